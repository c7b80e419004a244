//! The secret's formats, and how long what was read is used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use super::*;
use crate::testing::TestClock;

#[test]
fn secret_formats() {
    let table = [
        ("xoxb-1-abc", Ok(("xoxb-1-abc", false))),
        ("  xoxb-1-abc\n", Ok(("xoxb-1-abc", false))),
        (r#"{"token": "xoxb-2"}"#, Ok(("xoxb-2", false))),
        (r#"{"token": "xoxb-2", "signing_secret": "8f74"}"#, Ok(("xoxb-2", true))),
        (r#"{"token": "xoxb-2", "signing_secret": " "}"#, Ok(("xoxb-2", false))),
        (r#"{"SLACK_BOT_TOKEN": "xoxb-3", "other": 1}"#, Ok(("xoxb-3", false))),
        (r#"{"tok": "xoxb-4"}"#, Err("no string member")),
        (r#"{"token": 5}"#, Err("no string member")),
        ("{xoxb-5", Err("does not parse")),
        ("", Err("empty")),
    ];
    for (raw, want) in table {
        match (parse_secret(raw), want) {
            (Ok(s), Ok((token, signing))) => {
                assert_eq!((s.token.expose(), s.signing_secret.is_some()), (token, signing), "{raw}")
            }
            (Err(e), Err(w)) => {
                assert!(e.contains(w), "{raw}: {e}");
                assert!(!e.contains("xoxb"), "error quotes the secret: {e}");
            }
            (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
        }
    }
}

/// A Secrets Manager that holds `value` (or fails with it) and counts reads.
#[derive(Clone)]
struct FakeReader {
    value: Arc<StdMutex<Result<String, String>>>,
    reads: Arc<AtomicUsize>,
}

impl FakeReader {
    fn holding(value: Result<&str, &str>) -> FakeReader {
        let reader = FakeReader { value: Arc::new(StdMutex::new(Ok(String::new()))), reads: Arc::default() };
        reader.set(value);
        reader
    }

    fn set(&self, value: Result<&str, &str>) {
        *self.value.lock().unwrap() = value.map(str::to_owned).map_err(str::to_owned);
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SecretRead for FakeReader {
    async fn read(&self, _secret_id: &str) -> Result<String, String> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.value.lock().unwrap().clone()
    }
}

fn secret(token: &str, signing: &str) -> String {
    serde_json::json!({"token": token, "signing_secret": signing}).to_string()
}

fn tokens(reader: &FakeReader) -> Tokens {
    Tokens::SecretsManager(SecretToken::new(reader.clone(), "slack/bot-token", TestClock::new()))
}

async fn signing(tokens: &Tokens) -> Result<Option<SigningSecret>, TokenError> {
    tokens.signing_secret().await
}

#[tokio::test(start_paused = true)]
async fn a_rotated_signing_secret_reaches_a_warm_environment_within_its_ttl() {
    let reader = FakeReader::holding(Ok(&secret("xoxb-1", "old")));
    let tokens = tokens(&reader);
    assert_eq!(signing(&tokens).await.unwrap(), Some(SigningSecret::new("old")));
    reader.set(Ok(&secret("xoxb-1", "new")));
    tokio::time::advance(SIGNING_SECRET_TTL - Duration::from_secs(1)).await;
    assert_eq!(signing(&tokens).await.unwrap(), Some(SigningSecret::new("old")), "cached");
    assert_eq!(reader.reads(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(signing(&tokens).await.unwrap(), Some(SigningSecret::new("new")), "read again");
    assert_eq!(reader.reads(), 2);
    // The bot token has its own way to learn of a rotation (Slack refuses
    // it): posting reads nothing more.
    tokio::time::advance(SIGNING_SECRET_TTL * 10).await;
    assert_eq!(tokens.token().await.unwrap().expose(), "xoxb-1");
    assert_eq!(reader.reads(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_read_answers_for_a_few_seconds_without_reading_again() {
    let reader = FakeReader::holding(Err("AccessDeniedException"));
    let tokens = tokens(&reader);
    for _ in 0..50 {
        let err = signing(&tokens).await.unwrap_err().to_string();
        assert!(err.contains("AccessDeniedException"), "{err}");
    }
    assert!(tokens.token().await.is_err());
    assert_eq!(reader.reads(), 1, "one GetSecretValue for the flood");
    reader.set(Ok(&secret("xoxb-1", "s")));
    tokio::time::advance(FAILED_READ_TTL).await;
    assert_eq!(signing(&tokens).await.unwrap(), Some(SigningSecret::new("s")));
    assert_eq!(reader.reads(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_read_of_an_old_signing_secret_keeps_the_token() {
    let reader = FakeReader::holding(Ok(&secret("xoxb-1", "s")));
    let tokens = tokens(&reader);
    signing(&tokens).await.unwrap();
    reader.set(Err("ThrottlingException"));
    tokio::time::advance(SIGNING_SECRET_TTL).await;
    assert!(signing(&tokens).await.is_err(), "an old signing secret is not trusted past its time");
    assert_eq!(tokens.token().await.unwrap().expose(), "xoxb-1", "posting goes on");
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_is_read_again_once() {
    let reader = FakeReader::holding(Ok(&secret("xoxb-1", "s")));
    let tokens = tokens(&reader);
    let stale = tokens.token().await.unwrap();
    assert_eq!(tokens.refresh(&stale).await.unwrap(), None, "unchanged");
    reader.set(Ok(&secret("xoxb-2", "s")));
    assert_eq!(tokens.refresh(&stale).await.unwrap().unwrap().expose(), "xoxb-2", "rotated");
    assert_eq!(tokens.refresh(&stale).await.unwrap().unwrap().expose(), "xoxb-2", "read by another caller already");
    assert_eq!(reader.reads(), 3);
}
