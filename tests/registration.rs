//! New-user registration events through the real handler, against moto and
//! the fake Slack.

mod common;

use common::HandledExt;
use common::{Stack, deadline, event, unique};
use ecs_slack_notifier::kinds::registration::Handled;
use serde_json::{Value, json};

/// The sample registration, for a user of its own.
fn registration(detail: Value) -> Value {
    let mut event = event("events/user-registered.json");
    event["id"] = json!(unique("event"));
    event["detail"] = detail;
    event
}

fn ada() -> Value {
    json!({"user_id": unique("usr"), "email": "ada@example.com", "display_name": "Ada Lovelace", "total_users": 1234})
}

#[tokio::test]
async fn posts_to_the_users_channel() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier_with(&[("SLACK_USERS_CHANNEL", "C0USERS"), ("ENVIRONMENT", "test")]);
    let handled = notifier.handle(registration(ada()), deadline()).await.unwrap().registration();
    assert!(matches!(handled, Handled::PostedRegistration { .. }), "{handled:?}");
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].channel, "C0USERS");
    assert_eq!(posted[0].text, "[test] 🎉 New user signed up: ada@example.com", "labelled: ENVIRONMENT is set");
    let visible = posted[0].visible();
    for want in ["Ada Lovelace", "*Total users*\\n1,234", "*Environment*\\ntest", "<!date^1795710005^"] {
        assert!(visible.contains(want), "{want}: {visible}");
    }
}

#[tokio::test]
async fn falls_back_to_the_default_channel() {
    let Some(stack) = Stack::new().await else { return };
    stack.notifier().handle(registration(ada()), deadline()).await.unwrap().registration();
    assert_eq!(stack.slack.posted()[0].channel, "C0JOBS");
}

#[tokio::test]
async fn hostile_display_names_show_as_text_and_mention_no_one() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let names = ["<!channel> Eve & <@U024BE7LH>", "<https://evil.example|click here>", &"<!here>".repeat(5000)];
    for name in names {
        let detail = json!({"user_id": unique("usr"), "email": "eve@example.com", "display_name": name});
        notifier.handle(registration(detail), deadline()).await.unwrap().registration();
    }
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), names.len(), "every message passed Slack's checks");
    for p in &posted {
        let visible = p.visible();
        for mention in ["<!channel>", "<!here>", "<@U", "<https://evil"] {
            assert!(!visible.contains(mention), "{mention} in {visible}");
        }
    }
    assert!(posted[0].visible().contains("&lt;!channel&gt; Eve &amp; &lt;@U024BE7LH&gt;"));
}

#[tokio::test]
async fn a_duplicate_delivery_posts_once() {
    let Some(stack) = Stack::new().await else { return };
    let event = registration(ada());
    let first = stack.notifier().handle(event.clone(), deadline()).await.unwrap().registration();
    let again = stack.notifier().handle(event.clone(), deadline()).await.unwrap().registration();
    let (a, b) = (stack.notifier(), stack.notifier());
    let (x, y) = tokio::join!(a.handle(event.clone(), deadline()), b.handle(event, deadline()));
    assert!(matches!(first, Handled::PostedRegistration { .. }));
    for later in [again, x.unwrap().registration(), y.unwrap().registration()] {
        assert!(matches!(later, Handled::Skipped { slot: "once", .. }), "{later:?}");
    }
    assert_eq!(stack.slack.posted().len(), 1);
}

#[tokio::test]
async fn missing_required_fields_are_named() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let table = [
        (json!({"email": "a@b.c"}), "missing field `user_id`"),
        (json!({"user_id": "usr_1"}), "missing field `email`"),
        (json!({"user_id": 5, "email": "a@b.c"}), "invalid type: integer `5`"),
    ];
    for (detail, want) in table {
        let err = notifier.handle(registration(detail), deadline()).await.unwrap_err().to_string();
        assert!(err.starts_with("invalid `User Registered` event detail"), "{err}");
        assert!(err.contains(want), "{err}");
    }
    assert_eq!(stack.slack.requests(), 0);
    // The notifier is still usable after the errors.
    notifier.handle(registration(ada()), deadline()).await.unwrap().registration();
    assert_eq!(stack.slack.posted().len(), 1);
}
