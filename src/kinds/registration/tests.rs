//! Sign-ups in-process: the real handler on the in-memory store and a
//! recording Slack.

use serde_json::{Value, json};

use super::Handled;
use crate::handler::{self, Handler};
use crate::testing::{Fakes, fixture, test_settings};

fn registration(detail: Value) -> Value {
    let mut event = fixture("events/user-registered.json");
    event["detail"] = detail;
    event
}

fn ada(user: &str) -> Value {
    json!({"user_id": user, "email": "ada@example.com", "display_name": "Ada Lovelace", "total_users": 1234})
}

async fn handle(handler: &Handler, fakes: &Fakes, event: Value) -> Handled {
    match handler.handle(event, fakes.deadline()).await.unwrap() {
        handler::Handled::Registration(handled) => handled,
        other => panic!("not a registration outcome: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn posts_to_the_users_channel_else_the_default_one() {
    let fakes = Fakes::new();
    let mut settings = test_settings();
    settings.users_channel = Some("C0USERS".into());
    let handled = handle(&fakes.handler(settings), &fakes, registration(ada("usr_1"))).await;
    assert!(matches!(handled, Handled::PostedRegistration { .. }), "{handled:?}");
    handle(&fakes.default_handler(), &fakes, registration(ada("usr_2"))).await;
    let posted = fakes.slack.posted();
    assert_eq!((posted[0].message.channel.as_str(), posted[1].message.channel.as_str()), ("C0USERS", "C0JOBS"));
    assert_eq!(posted[0].message.text, "🎉 New user signed up: ada@example.com");
    for want in ["Ada Lovelace", "*Total users*\\n1,234", "*Environment*\\ntest", "<!date^1795710005^"] {
        assert!(posted[0].visible().contains(want), "{want}: {}", posted[0].visible());
    }
}

#[tokio::test(start_paused = true)]
async fn each_user_is_announced_once_whatever_the_deliveries() {
    let fakes = Fakes::new();
    let (a, b) = (fakes.default_handler(), fakes.default_handler());
    let mut retried = registration(ada("usr_1"));
    retried["id"] = json!("another-event-id-for-the-same-sign-up");
    let first = handle(&a, &fakes, registration(ada("usr_1"))).await;
    let again = handle(&b, &fakes, retried).await;
    let (x, y) =
        tokio::join!(handle(&a, &fakes, registration(ada("usr_2"))), handle(&b, &fakes, registration(ada("usr_2"))));
    assert!(matches!(first, Handled::PostedRegistration { .. }));
    assert!(matches!(again, Handled::Skipped { slot: "once", .. }), "{again:?}");
    let posted = [&x, &y].iter().filter(|h| matches!(h, Handled::PostedRegistration { .. })).count();
    assert_eq!(posted, 1, "{x:?} {y:?}");
    assert_eq!(fakes.slack.posted().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn what_the_user_typed_mentions_no_one() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    let names = ["<!channel> Eve & <@U024BE7LH>", "<https://evil.example|click here>", &"<!here>".repeat(5000)];
    for (i, name) in names.iter().enumerate() {
        let detail = json!({"user_id": format!("usr_{i}"), "email": "<!channel>@example.com", "display_name": name});
        handle(&handler, &fakes, registration(detail)).await;
    }
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), names.len(), "all within Block Kit limits");
    for p in &posted {
        for mention in ["<!channel>", "<!here>", "<@U", "<https://evil"] {
            assert!(!p.visible().contains(mention), "{mention} in {}", p.visible());
        }
    }
    assert!(posted[0].visible().contains("&lt;!channel&gt; Eve &amp; &lt;@U024BE7LH&gt;"));
}

#[tokio::test(start_paused = true)]
async fn missing_or_mistyped_fields_are_named_and_post_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    let table = [
        (json!({"email": "a@b.c"}), "missing field `user_id`"),
        (json!({"user_id": "usr_1"}), "missing field `email`"),
        (json!({"user_id": 5, "email": "a@b.c"}), "invalid type: integer `5`"),
    ];
    for (detail, want) in table {
        let err = handler.handle(registration(detail), fakes.deadline()).await.unwrap_err().to_string();
        assert!(err.starts_with("invalid `User Registered` event detail") && err.contains(want), "{err}");
    }
    assert_eq!(fakes.slack.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn with_an_environment_set_a_sign_up_carries_its_label() {
    let fakes = Fakes::new();
    let mut settings = crate::testing::test_settings();
    settings.label_notifications = true;
    settings.environment = "staging".into();
    handle(&fakes.handler(settings), &fakes, registration(ada("usr_9"))).await;
    let posted = fakes.slack.posted();
    assert!(posted[0].message.text.starts_with("[staging] 🎉"), "{}", posted[0].message.text);
}
