#!/bin/sh
# Installs ragstack for the current user without a Rust toolchain (AWS CloudShell, any Linux with
# glibc 2.17 or newer): downloads the release archive for this machine (uname -m), checks its
# SHA-256 against the release's SHA256SUMS, and installs the binary into ~/.local/bin, which
# CloudShell keeps across sessions.
#   curl -fsSL https://github.com/OWNER/REPO/releases/latest/download/install.sh | sh
# Environment (all optional):
#   RAGSTACK_BASE_URL     where the release's files are (the release sets it in its copy)
#   RAGSTACK_VERSION      which version to install (the release sets it in its copy)
#   RAGSTACK_INSTALL_DIR  where to put ragstack (default: ~/.local/bin)
set -eu
base_url="${RAGSTACK_BASE_URL:-@BASE_URL@}"
version="${RAGSTACK_VERSION:-@VERSION@}"
dir="${RAGSTACK_INSTALL_DIR:-$HOME/.local/bin}"

fail() { echo "install.sh: $*" >&2; exit 1; }
case "$base_url$version" in *@*) fail "set RAGSTACK_BASE_URL and RAGSTACK_VERSION (this copy of install.sh is not from a release)" ;; esac
[ "$(uname -s)" = Linux ] || fail "ragstack is built for Linux; this is $(uname -s)"
case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) fail "no ragstack build for $(uname -m) (x86_64 and aarch64 are built)" ;;
esac
archive="ragstack-$version-$arch-linux.tar.gz"

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 3 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  fail "curl or wget is needed"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
else
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading $archive from $base_url"
fetch "$base_url/SHA256SUMS" "$tmp/SHA256SUMS" || fail "cannot download $base_url/SHA256SUMS"
fetch "$base_url/$archive" "$tmp/$archive" || fail "cannot download $base_url/$archive"
expected="$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")"
[ -n "$expected" ] || fail "SHA256SUMS lists no $archive"
actual="$(sha256 "$tmp/$archive")"
[ "$actual" = "$expected" ] || fail "checksum mismatch for $archive: expected $expected, got $actual; nothing was installed"
tar -xzf "$tmp/$archive" -C "$tmp"
mkdir -p "$dir"
install -m 0755 "$tmp/ragstack-$version-$arch-linux/ragstack" "$dir/ragstack"
echo "installed $("$dir/ragstack" --version) to $dir/ragstack"
# Bash completion and man pages where the user's own shell and man look, no root needed
# (bash-completion loads ~/.local/share/bash-completion/completions; man searches
# ~/.local/share/man next to ~/.local/bin on the PATH).
share="${XDG_DATA_HOME:-$HOME/.local/share}"
unpacked="$tmp/ragstack-$version-$arch-linux/share"
if [ -f "$unpacked/bash-completion/completions/ragstack" ]; then
  mkdir -p "$share/bash-completion/completions" "$share/man/man1"
  install -m 0644 "$unpacked/bash-completion/completions/ragstack" "$share/bash-completion/completions/ragstack"
  for page in "$unpacked"/man/man1/*.1; do [ -f "$page" ] && install -m 0644 "$page" "$share/man/man1/"; done
  echo "installed bash completion and man pages under $share (man ragstack)"
fi
case ":$PATH:" in
  *":$dir:"*) ;;
  *) echo "$dir is not on your PATH; add it with:"
     echo "  echo 'export PATH=\"$dir:\$PATH\"' >> ~/.bashrc && . ~/.bashrc" ;;
esac
echo "next: ragstack deploy dev us-east-1"
