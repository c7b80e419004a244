//! The new-user message.

use super::{Field, Message, field_sections, header, message, text};
use crate::event::Registration;
use crate::time::Timestamp;

pub fn registration_message(
    reg: &Registration,
    registered_at: Option<Timestamp>,
    environment: &str,
    channel: &str,
) -> Message {
    let mut fields = vec![Field::raw("Email", &reg.email)];
    if let Some(name) = reg.display_name.as_deref().filter(|n| !n.trim().is_empty()) {
        fields.push(Field::raw("Display name", name));
    }
    fields.push(Field::trusted("User ID", format!("`{}`", text::escape_truncated(&reg.user_id, 200))));
    if let Some(total) = reg.total_users {
        fields.push(Field::trusted("Total users", text::thousands(total)));
    }
    fields.push(Field::raw("Environment", environment));
    if let Some(at) = registered_at {
        fields.push(Field::trusted("Registered", text::slack_date(at)));
    }
    let mut blocks = vec![header("🎉 New user signed up")];
    blocks.extend(field_sections(fields));
    message(channel, &format!("🎉 New user signed up: {}", reg.email), blocks, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, parse};
    use crate::message::limit_violation;
    use crate::testing::fixture;

    fn sample() -> (Registration, Option<Timestamp>) {
        let incoming = parse(fixture("events/user-registered.json")).unwrap();
        let EventKind::UserRegistered(reg) = incoming.kind else { panic!() };
        (reg, incoming.time)
    }

    #[test]
    fn shows_every_detail() {
        let (reg, time) = sample();
        let msg = registration_message(&reg, time, "prod", "C0USERS");
        assert_eq!(msg.channel, "C0USERS");
        assert_eq!(msg.text, "🎉 New user signed up: ada@example.com");
        let json = serde_json::to_string(&msg.blocks).unwrap();
        for want in [
            "*Email*\\nada@example.com",
            "*Display name*\\nAda Lovelace",
            "`usr_01JD8Z6T1M4K2Q9R7X3V5B0N8C`",
            "*Total users*\\n1,234",
            "*Environment*\\nprod",
            "<!date^1795710005^",
        ] {
            assert!(json.contains(want), "{want} not in {json}");
        }
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let reg = Registration { user_id: "u".into(), email: "e@x.io".into(), ..Registration::default() };
        let msg = registration_message(&reg, None, "dev", "C1");
        let json = serde_json::to_string(&msg.blocks).unwrap();
        assert!(!json.contains("Display name") && !json.contains("Total users") && !json.contains("Registered"));
        assert_eq!(limit_violation(&msg.blocks), None);
    }

    #[test]
    fn hostile_display_names_show_as_text() {
        let table = [
            ("<!channel> Eve & <@U024BE7LH>", "&lt;!channel&gt; Eve &amp; &lt;@U024BE7LH&gt;"),
            ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ];
        for (name, shown) in table {
            let reg = Registration {
                user_id: "<@U1>".into(),
                email: format!("{name}@x.io"),
                display_name: Some(name.into()),
                total_users: None,
            };
            let msg = registration_message(&reg, None, "prod", "C1");
            let json = serde_json::to_string(&msg).unwrap();
            assert!(json.contains(shown), "{json}");
            assert!(!json.contains("<!channel>") && !json.contains("<@U") && !json.contains("<https"), "{json}");
        }
    }

    #[test]
    fn over_long_names_are_cut_to_fit() {
        let reg = Registration {
            user_id: "u".repeat(5000),
            email: "e".repeat(5000),
            display_name: Some("<".repeat(100_000)),
            total_users: Some(u64::MAX),
        };
        let msg = registration_message(&reg, None, "prod", "C1");
        assert_eq!(limit_violation(&msg.blocks), None);
        assert!(msg.text.chars().count() <= crate::message::limits::FALLBACK_TEXT);
    }
}
