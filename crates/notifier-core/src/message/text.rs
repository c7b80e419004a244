//! Turning untrusted text into Slack mrkdwn that shows as written: escaped so
//! it cannot mention anyone or inject links, and cut to fit Block Kit limits.

use std::time::Duration;

use crate::time::Timestamp;

const ELLIPSIS: char = '…';

fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

/// Escapes the three characters Slack's mrkdwn gives meaning to (`&`, `<`,
/// `>`), which is all it takes to stop `<!channel>`, `<@U…>` and `<url|label>`.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `raw` and, when the result would be longer than `max_chars`
/// characters, keeps its start and its end around an ellipsis: an error's
/// first line says what failed, its last line often says why. Cuts fall
/// between source characters, so an entity like `&amp;` is never split.
pub fn escape_truncated(raw: &str, max_chars: usize) -> String {
    let total: usize = raw.chars().map(escaped_len).sum();
    if total <= max_chars {
        return escape(raw);
    }
    if max_chars == 0 {
        return String::new();
    }
    let budget = max_chars - 1;
    let head_budget = budget.div_ceil(2);
    let mut head_used = 0;
    let head_end = raw
        .char_indices()
        .find(|&(_, c)| {
            let fits = head_used + escaped_len(c) <= head_budget;
            if fits {
                head_used += escaped_len(c);
            }
            !fits
        })
        .map_or(raw.len(), |(i, _)| i);
    let tail_budget = budget - head_used;
    let mut tail_used = 0;
    let mut tail_start = raw.len();
    for (i, c) in raw[head_end..].char_indices().rev() {
        if tail_used + escaped_len(c) > tail_budget {
            break;
        }
        tail_used += escaped_len(c);
        tail_start = head_end + i;
    }
    let mut out = escape(&raw[..head_end]);
    out.push(ELLIPSIS);
    out.push_str(&escape(&raw[tail_start..]));
    out
}

/// Cuts plain text (not mrkdwn) to `max_chars` characters.
pub fn truncate_plain(raw: &str, max_chars: usize) -> String {
    if raw.chars().count() <= max_chars {
        return raw.to_owned();
    }
    let mut out: String = raw.chars().take(max_chars.saturating_sub(1)).collect();
    out.push(ELLIPSIS);
    out
}

/// A run time the way people say it: `4m 1s`, `1h 0m 12s`, `9s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// A usual time, roughly: `50m`, `1h 5m`; under 10 minutes as
/// [`duration`] says it.
pub fn approx_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..600 => duration(d),
        600..3600 => format!("{}m", secs / 60),
        _ => format!("{}h {}m", secs / 3600, secs / 60 % 60),
    }
}

/// A time Slack shows in each reader's own time zone, with a UTC fallback
/// for clients that cannot.
pub fn slack_date(t: Timestamp) -> String {
    format!("<!date^{}^{{date_short_pretty}} {{time_secs}}|{}>", t.secs(), t.format_utc("%Y-%m-%d %H:%M:%S UTC"))
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_mentions_and_links() {
        let table = [
            ("<!channel> Eve & <@U024BE7LH>", "&lt;!channel&gt; Eve &amp; &lt;@U024BE7LH&gt;"),
            ("<https://evil|click>", "&lt;https://evil|click&gt;"),
            ("plain *bold* text", "plain *bold* text"),
            ("&amp;", "&amp;amp;"),
            ("", ""),
        ];
        for (raw, want) in table {
            assert_eq!(escape(raw), want);
        }
    }

    #[test]
    fn truncation_keeps_both_ends_and_whole_entities() {
        let table = [
            ("short", 10, "short"),
            ("abcdefghij", 10, "abcdefghij"),
            ("abcdefghijk", 10, "abcde…hijk"),
            ("abcdefghijk", 5, "ab…jk"),
            ("a<<<<<<<<<b", 10, "a&lt;…b"),
            ("&&&&", 11, "&amp;…&amp;"),
            ("anything", 0, ""),
            ("ab", 1, "…"),
        ];
        for (raw, max, want) in table {
            let got = escape_truncated(raw, max);
            assert_eq!(got, want, "{raw:?} to {max}");
            assert!(got.chars().count() <= max, "{raw:?} to {max}: {got:?}");
        }
    }

    #[test]
    fn durations_read_like_people_write_them() {
        let table = [(0, "0s"), (9, "9s"), (60, "1m 0s"), (241, "4m 1s"), (3612, "1h 0m 12s"), (90061, "25h 1m 1s")];
        for (secs, want) in table {
            assert_eq!(duration(Duration::from_secs(secs)), want);
        }
        assert_eq!(duration(Duration::from_millis(1999)), "1s");
    }

    #[test]
    fn thousands_separators() {
        let table = [(0, "0"), (999, "999"), (1000, "1,000"), (1234, "1,234"), (1234567, "1,234,567")];
        for (n, want) in table {
            assert_eq!(thousands(n), want);
        }
    }

    #[test]
    fn plain_truncation() {
        assert_eq!(truncate_plain("abcdef", 4), "abc…");
        assert_eq!(truncate_plain("abc", 4), "abc");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn unescape(s: &str) -> String {
            s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        }

        proptest! {
            #[test]
            fn escaped_text_fits_and_mentions_no_one(raw in "(\\PC|[<>&!@|])*", max in 0usize..400) {
                let out = escape_truncated(&raw, max);
                prop_assert!(out.chars().count() <= max);
                prop_assert!(!out.contains('<') && !out.contains('>'));
                // Every `&` starts one of the three entities: nothing half-cut.
                let rest = out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "");
                prop_assert!(!rest.contains('&'));
                // What is kept is the text's own start and end.
                match out.split_once(ELLIPSIS) {
                    None => prop_assert!(unescape(&out) == raw || max == 0),
                    Some((head, tail)) if !raw.contains(ELLIPSIS) => {
                        prop_assert!(raw.starts_with(&unescape(head)));
                        prop_assert!(raw.ends_with(&unescape(tail)));
                    }
                    Some(_) => {}
                }
            }

            #[test]
            fn registration_messages_stay_within_block_kit_limits(
                name in "\\PC{0,3000}", email in "\\PC{0,500}", user in "\\PC{0,300}", total in any::<Option<u64>>()
            ) {
                let reg = crate::event::Registration { user_id: user, email, display_name: Some(name), total_users: total };
                let msg = crate::message::registration_message(&reg, None, "prod", "C1");
                prop_assert_eq!(crate::message::limit_violation(&msg.blocks), None);
                let json = serde_json::to_string(&msg).unwrap();
                prop_assert!(!json.contains('<') && !json.contains('>'), "{}", json);
            }
        }
    }

    #[test]
    fn approximate_durations() {
        let table = [(12, "12s"), (599, "9m 59s"), (600, "10m"), (3000, "50m"), (3599, "59m"), (3900, "1h 5m")];
        for (secs, want) in table {
            assert_eq!(approx_duration(Duration::from_secs(secs)), want);
        }
    }
}
