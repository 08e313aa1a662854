//! AWS's naming rules, one function per kind of name: None when AWS accepts the name, else why
//! not (each cites where AWS states the rule).

fn length_rule(name: &str, min: usize, max: usize) -> Option<String> {
    let n = name.len();
    (n < min || n > max).then(|| format!("must be {min}-{max} characters, is {n}"))
}

/// OpenSearch Serverless collection and policy names: 3-32, `[a-z][a-z0-9-]*`.
pub fn aoss_name_rule(name: &str) -> Option<String> {
    length_rule(name, 3, 32).or_else(|| {
        let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        (!ok).then(|| "must match [a-z][a-z0-9-]* (lowercase letters, digits, hyphens; starts with a letter)".into())
    })
}

/// S3 general purpose bucket names.
pub fn bucket_name_rule(name: &str) -> Option<String> {
    length_rule(name, 3, 63).or_else(|| {
        let charset = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        let ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        let ip_like = name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok());
        if !charset || !ends {
            Some("must use lowercase letters, digits, '-' and '.', and start and end with a letter or digit".into())
        } else if name.contains("..") || ip_like {
            Some("must not contain '..' or look like an IP address".into())
        } else if name.starts_with("xn--")
            || name.starts_with("sthree-")
            || name.ends_with("-s3alias")
            || name.ends_with("--ol-s3")
        {
            Some("must not use the reserved prefixes xn--/sthree- or suffixes -s3alias/--ol-s3".into())
        } else {
            None
        }
    })
}

/// IAM role names: 1-64 of `[A-Za-z0-9+=,.@_-]`.
pub fn iam_role_rule(name: &str) -> Option<String> {
    length_rule(name, 1, 64).or_else(|| {
        let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        (!ok).then(|| "must use only letters, digits and +=,.@_-".into())
    })
}

/// EventBridge rule and Scheduler schedule names: 1-64 of `[A-Za-z0-9._-]` (botocore's events
/// and scheduler models, shapes RuleName and Name).
pub fn eventbridge_name_rule(name: &str) -> Option<String> {
    length_rule(name, 1, 64).or_else(|| {
        let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        (!ok).then(|| "must use only letters, digits, '.', '-' and '_'".into())
    })
}

/// Lambda function names: 1-64 of `[A-Za-z0-9_-]`.
pub fn lambda_name_rule(name: &str) -> Option<String> {
    length_rule(name, 1, 64).or_else(|| {
        let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (!ok).then(|| "must use only letters, digits, '-' and '_'".into())
    })
}

/// S3 vector bucket names: 3-63 characters, lowercase letters, digits and hyphens, beginning and
/// ending with a letter or digit (S3 User Guide, "Vector bucket naming rules").
pub fn vector_bucket_rule(name: &str) -> Option<String> {
    length_rule(name, 3, 63).or_else(|| {
        let ok = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        (!ok)
            .then(|| "must use only lowercase letters, digits and '-', and begin and end with a letter or digit".into())
    })
}

/// S3 vector index names: 3-63 characters, lowercase letters, digits, '-' and '.', beginning and
/// ending with a letter or digit (the IndexArn pattern of botocore's s3vectors model,
/// `[a-z0-9][a-z0-9-.]{1,61}[a-z0-9]`; the API model gives no pattern of its own).
pub fn vector_index_rule(name: &str) -> Option<String> {
    length_rule(name, 3, 63).or_else(|| {
        let ok = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        (!ok).then(|| {
            "must use only lowercase letters, digits, '-' and '.', and begin and end with a letter or digit".into()
        })
    })
}

/// SQS queue names: 1-80 letters, digits, '-' and '_' ("CreateQueue", Amazon SQS API Reference).
pub fn sqs_name_rule(name: &str) -> Option<String> {
    length_rule(name, 1, 80).or_else(|| {
        let ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (!ok).then(|| "must use only letters, digits, '-' and '_'".into())
    })
}

/// Bedrock knowledge base and data source names: `([0-9a-zA-Z][_-]?){1,100}`.
pub fn bedrock_name_rule(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut units = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            return Some("must be letters and digits, each optionally followed by one '-' or '_' (pattern ([0-9a-zA-Z][_-]?){1,100})".into());
        }
        units += 1;
        i += 1;
        if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'_') {
            i += 1;
        }
    }
    if units == 0 || units > 100 {
        return Some(format!("must have 1-100 letters or digits, has {units}"));
    }
    None
}

/// OpenSearch index names: lowercase, 1-255 bytes, not starting with `_`, `-` or `+`, none of `\/*?"<>| ,#:`.
pub fn index_name_rule(name: &str) -> Option<String> {
    length_rule(name, 1, 255).or_else(|| {
        if name != name.to_lowercase() {
            Some("must be lowercase".into())
        } else if name.starts_with(['_', '-', '+']) || name == "." || name == ".." {
            Some("must not start with '_', '-' or '+', nor be '.' or '..'".into())
        } else if name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':']) {
            Some("must not contain any of \\ / * ? \" < > | space , # :".into())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(aoss_name_rule("ab").is_some());
        assert!(aoss_name_rule("1abc").is_some());
        assert!(aoss_name_rule("abc-1").is_none());
        assert!(bucket_name_rule("my..bucket").is_some());
        assert!(bucket_name_rule("192.168.1.1").is_some());
        assert!(bucket_name_rule("Upper").is_some());
        assert!(bucket_name_rule("ok-bucket.1").is_none());
        assert!(iam_role_rule(&"r".repeat(65)).is_some());
        assert!(lambda_name_rule("fn.name").is_some());
        assert!(bedrock_name_rule("a--b").is_some());
        assert!(bedrock_name_rule("docs_v2-x").is_none());
        assert!(bedrock_name_rule("").is_some());
        assert!(index_name_rule("Index").is_some());
        assert!(index_name_rule("_x").is_some());
        assert!(index_name_rule("a:b").is_some());
        assert!(index_name_rule("rag-index").is_none());
    }
}
