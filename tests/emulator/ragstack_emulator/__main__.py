"""Start the emulator: `python -m ragstack_emulator [--port 0] [--profile test|realistic] ...`.

Listens on 127.0.0.1 only, prints `endpoint http://127.0.0.1:PORT` as its first line of output,
and stops cleanly on SIGINT/SIGTERM. Flags override the RAGSTACK_EMULATOR_* environment variables.
"""
import argparse
import logging
import os
import signal
import sys
import threading
import time


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ragstack-emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("RAGSTACK_EMULATOR_PORT", "0")), help="0 picks a free port")
    parser.add_argument("--profile", choices=["test", "realistic"], help="delay profile (RAGSTACK_EMULATOR_PROFILE)")
    parser.add_argument("--throttle-rate", type=float, help="share of requests answered with throttling, 0-1")
    parser.add_argument("--error-rate", type=float, help="share of requests answered with a 500, 0-1")
    parser.add_argument("--seed", type=int, help="seed of the fault injection")
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the starting process ends (tests)")
    args = parser.parse_args(argv)
    for flag, var in (("profile", "PROFILE"), ("throttle_rate", "THROTTLE_RATE"), ("error_rate", "ERROR_RATE"), ("seed", "SEED")):
        value = getattr(args, flag)
        if value is not None:
            os.environ[f"RAGSTACK_EMULATOR_{var}"] = str(value)
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    # One line per request is noise in test output; RAGSTACK_EMULATOR_ACCESS_LOG=1 brings it back.
    if os.environ.get("RAGSTACK_EMULATOR_ACCESS_LOG") != "1":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    from . import cloudformation, moto_fixes
    from .middleware import Emulator
    from .settings import Settings

    settings = Settings()
    moto_fixes.apply()
    cloudformation.apply()
    app = Emulator(DomainDispatcherApplication(create_backend_app), settings)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    os.environ["MOTO_PORT"] = str(server.port)
    print(f"endpoint http://127.0.0.1:{server.port}", flush=True)
    print(f"profile {settings.profile}; delays {settings.delays}", file=sys.stderr, flush=True)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if args.exit_with_parent:
        parent = os.getppid()

        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            server.shutdown()

        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
