//! `sync.schedule`: the syntax of EventBridge's rate and cron expressions, checked before any
//! call ("Schedule types in EventBridge Scheduler" and "Cron expressions" in the EventBridge User
//! Guide: six fields, their values and wildcards, day-of-month or day-of-week `?`; a rate is a
//! positive integer and minute(s), hour(s) or day(s), singular exactly for 1). Scheduler's API
//! model limits the expression to 256 characters and checks nothing else.

const MAX_LENGTH: usize = 256;

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names accepted for values min.. (JAN-DEC, SUN-SAT).
    names: &'static [&'static str],
    allowed: &'static str,
}

const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 6] = [
    Field { name: "minutes", min: 0, max: 59, names: &[], allowed: "0-59 and , - * /" },
    Field { name: "hours", min: 0, max: 23, names: &[], allowed: "0-23 and , - * /" },
    Field { name: "day-of-month", min: 1, max: 31, names: &[], allowed: "1-31 and , - * ? / L W" },
    Field { name: "month", min: 1, max: 12, names: MONTHS, allowed: "1-12 or JAN-DEC and , - * /" },
    Field { name: "day-of-week", min: 1, max: 7, names: DAYS, allowed: "1-7 or SUN-SAT and , - * ? L #" },
    Field { name: "year", min: 1970, max: 2199, names: &[], allowed: "1970-2199 and , - * /" },
];
const DAY_OF_MONTH: usize = 2;
const DAY_OF_WEEK: usize = 4;

const EXAMPLES: &str = "rate(6 hours), rate(1 day), cron(0 6 * * ? *) (06:00 UTC daily)";

/// Why `expression` is not a recurring schedule EventBridge Scheduler accepts, or None.
pub fn problem(expression: &str) -> Option<String> {
    if expression.len() > MAX_LENGTH {
        return Some(format!("longer than {MAX_LENGTH} characters"));
    }
    let inner = |head: &str| expression.strip_prefix(head).and_then(|r| r.strip_suffix(')'));
    if let Some(rate) = inner("rate(") {
        return rate_problem(rate);
    }
    if let Some(cron) = inner("cron(") {
        return cron_problem(cron);
    }
    if expression.starts_with("at(") {
        return Some(format!(
            "at(...) runs once; a sync schedule recurs: allowed: rate(...) or cron(...), e.g. {EXAMPLES}"
        ));
    }
    Some(format!("not a schedule expression; allowed: rate(VALUE UNIT) or cron(SIX FIELDS), e.g. {EXAMPLES}"))
}

fn rate_problem(rate: &str) -> Option<String> {
    let allowed = "rate(VALUE UNIT): VALUE a positive integer, UNIT minute, hour or day (minutes, hours, days when VALUE is more than 1)";
    let Some((value, unit)) = rate.split_once(' ') else { return Some(format!("allowed: {allowed}")) };
    let Ok(value) = value.parse::<u32>() else {
        return Some(format!("`{value}` is not a positive integer; allowed: {allowed}"));
    };
    let singular = ["minute", "hour", "day"];
    let plural = ["minutes", "hours", "days"];
    match value {
        0 => Some(format!("the value must be positive; allowed: {allowed}")),
        1 if singular.contains(&unit) => None,
        1 if plural.contains(&unit) => {
            Some(format!("with 1 the unit is singular: rate(1 {})", unit.trim_end_matches('s')))
        }
        _ if plural.contains(&unit) => None,
        _ if singular.contains(&unit) => Some(format!("with {value} the unit is plural: rate({value} {unit}s)")),
        _ => Some(format!("unit `{unit}`; allowed: {allowed}")),
    }
}

fn cron_problem(cron: &str) -> Option<String> {
    let fields: Vec<&str> = cron.split(' ').collect();
    if fields.len() != 6 || fields.iter().any(|f| f.is_empty()) {
        return Some(format!(
            "a cron expression has six fields separated by single spaces (minutes hours day-of-month month \
             day-of-week year), found {}; e.g. cron(0 6 * * ? *)",
            fields.iter().filter(|f| !f.is_empty()).count()
        ));
    }
    for (n, (text, field)) in fields.iter().zip(FIELDS.iter()).enumerate() {
        let ok = if *text == "?" {
            n == DAY_OF_MONTH || n == DAY_OF_WEEK
        } else if n == DAY_OF_WEEK && text.contains('#') {
            // `#` allows one expression only ("3#1,6#3" is two).
            nth_weekday(text, field)
        } else {
            text.split(',').all(|t| token(t, field, n))
        };
        if !ok {
            return Some(format!("cron field {} ({}) `{text}`: allowed: {}", n + 1, field.name, field.allowed));
        }
    }
    if (fields[DAY_OF_MONTH] == "?") == (fields[DAY_OF_WEEK] == "?") {
        return Some(
            "one of day-of-month (field 3) and day-of-week (field 5) must be `?` and the other not, e.g. \
             cron(0 6 * * ? *) or cron(0 6 ? * MON *)"
                .into(),
        );
    }
    None
}

fn value(text: &str, f: &Field) -> Option<u32> {
    if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Some(f.min + i as u32);
    }
    text.parse::<u32>().ok().filter(|v| (f.min..=f.max).contains(v))
}

fn range(text: &str, f: &Field) -> bool {
    match text.split_once('-') {
        Some((a, b)) => value(a, f).is_some() && value(b, f).is_some(),
        None => value(text, f).is_some(),
    }
}

fn token(t: &str, f: &Field, n: usize) -> bool {
    if t == "*" || range(t, f) {
        return true;
    }
    if let Some((base, step)) = t.split_once('/') {
        let step_ok = step.parse::<u32>().is_ok_and(|s| s >= 1 && s <= f.max.max(1));
        return step_ok && n != DAY_OF_WEEK && (base == "*" || range(base, f));
    }
    match n {
        DAY_OF_MONTH => t == "L" || t == "LW" || t.strip_suffix('W').is_some_and(|d| value(d, f).is_some()),
        DAY_OF_WEEK => t == "L" || t.strip_suffix('L').is_some_and(|d| value(d, f).is_some()),
        _ => false,
    }
}

fn nth_weekday(t: &str, f: &Field) -> bool {
    t.split_once('#').is_some_and(|(day, nth)| value(day, f).is_some() && matches!(nth, "1" | "2" | "3" | "4" | "5"))
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn accepts_what_the_eventbridge_documentation_shows() {
        for ok in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(6 hours)",
            "rate(1 day)",
            "cron(0 10 * * ? *)",
            "cron(15 12 * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 3W * ? *)",
            "cron(0 0 ? * 6L *)",
            "cron(30 2 ? JAN,JUL SUN 2027)",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn refuses_what_eventbridge_refuses_with_the_reason() {
        for (bad, says) in [
            ("every 6 hours", "not a schedule expression"),
            ("rate(0 hours)", "positive"),
            ("rate(1 hours)", "rate(1 hour)"),
            ("rate(6 hour)", "rate(6 hours)"),
            ("rate(6 weeks)", "unit `weeks`"),
            ("rate(six hours)", "not a positive integer"),
            ("cron(0 6 * * *)", "six fields"),
            ("cron(0 6 * * * *)", "must be `?`"),
            ("cron(0 6 ? * ? *)", "must be `?`"),
            ("cron(60 6 * * ? *)", "field 1 (minutes) `60`"),
            ("cron(0 24 * * ? *)", "field 2 (hours)"),
            ("cron(0 6 32 * ? *)", "field 3 (day-of-month)"),
            ("cron(0 6 * 13 ? *)", "field 4 (month)"),
            ("cron(0 6 ? * MOO *)", "field 5 (day-of-week)"),
            ("cron(0 6 ? * 3#1,6#3 *)", "field 5"),
            ("cron(0 6 * * ? 1969)", "field 6 (year)"),
            ("cron(? 6 * * ? *)", "field 1"),
            ("at(2026-12-01T10:00:00)", "runs once"),
        ] {
            let p = problem(bad).unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(p.contains(says), "{bad}: {p}");
        }
    }
}
