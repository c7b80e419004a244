//! Slack's request signatures: `v0=` and the hex HMAC-SHA256 of
//! `v0:{X-Slack-Request-Timestamp}:{raw body}` under the app's signing
//! secret, with a timestamp at most five minutes from now. Checked before
//! anything else is done with a request from the internet.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::time::Timestamp;

/// Slack's replay window.
pub const MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// The signing secret. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        SigningSecret(secret.into())
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// Why a request was refused: logged, never told to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no signing secret is configured")]
    NotConfigured,
    #[error("no X-Slack-Request-Timestamp or X-Slack-Signature header")]
    Missing,
    #[error("the timestamp is not a number")]
    BadTimestamp,
    #[error("the timestamp is more than five minutes from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a request's signature, sent at most [`MAX_AGE`] from `now`.
pub fn verify(
    secret: Option<&SigningSecret>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), Refusal> {
    let secret = secret.ok_or(Refusal::NotConfigured)?;
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else { return Err(Refusal::Missing) };
    let at = Timestamp::from_secs(timestamp.trim().parse().map_err(|_| Refusal::BadTimestamp)?);
    if now.duration_since(at).max(at.duration_since(now)) > MAX_AGE {
        return Err(Refusal::Stale);
    }
    let tag = signature.strip_prefix("v0=").and_then(hex).ok_or(Refusal::Mismatch)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()).map_err(|_| Refusal::Mismatch)?;
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    // Constant time: the comparison leaks nothing of the expected tag.
    mac.verify_slice(&tag).map_err(|_| Refusal::Mismatch)
}

/// The signature Slack would send: for tests and the local tools.
pub fn sign(secret: &SigningSecret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!("v0={}", tag.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Slack's spelling only, lowercase hex digits two per byte:
/// `u8::from_str_radix` would also take a sign (`+f`) and upper case, so
/// that one tag had many spellings.
fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |b: u8| matches!(b, b'0'..=b'9' | b'a'..=b'f').then(|| char::from(b).to_digit(16)).flatten();
    text.as_bytes().chunks(2).map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_secs(1_795_708_800);

    fn secret() -> SigningSecret {
        SigningSecret::new("8f742231b10e8888abcd99yyyzzz85a5")
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // The example from Slack's "Verifying requests from Slack" guide.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(
            verify(Some(&secret()), Some("1531420618"), Some(signature), body, Timestamp::from_secs(1531420618 + 60)),
            Ok(())
        );
        assert_eq!(sign(&secret(), 1531420618, body), signature);
    }

    #[test]
    fn every_way_to_be_wrong_is_refused() {
        let body = b"command=%2Fjobs&text=status";
        let good = sign(&secret(), NOW.secs(), body);
        let ts = NOW.secs().to_string();
        type Case<'a> = (Option<&'a SigningSecret>, Option<&'a str>, Option<&'a str>, &'a [u8], Timestamp, Refusal);
        let table: [Case; 10] = [
            (None, Some(&ts), Some(&good), body, NOW, Refusal::NotConfigured),
            (Some(&secret()), None, Some(&good), body, NOW, Refusal::Missing),
            (Some(&secret()), Some(&ts), None, body, NOW, Refusal::Missing),
            (Some(&secret()), Some("yesterday"), Some(&good), body, NOW, Refusal::BadTimestamp),
            (Some(&secret()), Some(&ts), Some(&good), body, NOW + MAX_AGE + Duration::from_secs(1), Refusal::Stale),
            (Some(&secret()), Some(&ts), Some(&good), body, NOW - MAX_AGE - Duration::from_secs(1), Refusal::Stale),
            (Some(&secret()), Some(&ts), Some(&good), b"command=%2Fjobs&text=stop", NOW, Refusal::Mismatch),
            (Some(&SigningSecret::new("another")), Some(&ts), Some(&good), body, NOW, Refusal::Mismatch),
            (Some(&secret()), Some(&ts), Some(&good[3..]), body, NOW, Refusal::Mismatch),
            (Some(&secret()), Some(&ts), Some("v0=zz"), body, NOW, Refusal::Mismatch),
        ];
        for (secret, timestamp, signature, body, now, want) in table {
            assert_eq!(verify(secret, timestamp, signature, body, now), Err(want), "{timestamp:?} {signature:?}");
        }
        // A signature for another timestamp does not carry over.
        let later = (NOW.secs() + 10).to_string();
        assert_eq!(verify(Some(&secret()), Some(&later), Some(&good), body, NOW), Err(Refusal::Mismatch));
        assert_eq!(verify(Some(&secret()), Some(&ts), Some(&good), body, NOW + MAX_AGE), Ok(()), "at the edge");
    }

    #[test]
    fn only_plain_hex_digits_spell_the_signature() {
        let ts = NOW.secs().to_string();
        // A body whose signature has a byte below 0x10: `0f` could be spelt `+f`.
        let low_byte = |signature: &str| (3..signature.len()).step_by(2).find(|&i| signature.as_bytes()[i] == b'0');
        let (body, good, at) = (0..)
            .map(|i| format!("command=%2Fjobs&text=status&n={i}"))
            .find_map(|body| {
                let good = sign(&secret(), NOW.secs(), body.as_bytes());
                let at = low_byte(&good)?;
                Some((body, good, at))
            })
            .unwrap();
        let mut plus = good.clone();
        plus.replace_range(at..at + 1, "+");
        let upper = format!("v0={}", good[3..].to_ascii_uppercase());
        let check = |signature: &str| verify(Some(&secret()), Some(&ts), Some(signature), body.as_bytes(), NOW);
        assert_eq!(check(&good), Ok(()));
        assert_eq!(check(&plus), Err(Refusal::Mismatch), "{plus}");
        assert_eq!(check(&upper), Err(Refusal::Mismatch), "upper case is not Slack's spelling");
        assert_eq!(check(&format!("{good} ")), Err(Refusal::Mismatch));
    }

    #[test]
    fn the_secret_is_never_shown() {
        assert!(!format!("{:?}", secret()).contains("8f74"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn only_the_signed_body_passes(body in proptest::collection::vec(any::<u8>(), 0..512), flip in 0usize..512) {
                let signature = sign(&secret(), NOW.secs(), &body);
                let ts = NOW.secs().to_string();
                prop_assert_eq!(verify(Some(&secret()), Some(&ts), Some(&signature), &body, NOW), Ok(()));
                if !body.is_empty() {
                    let mut tampered = body.clone();
                    tampered[flip % body.len()] ^= 1;
                    prop_assert_eq!(verify(Some(&secret()), Some(&ts), Some(&signature), &tampered, NOW), Err(Refusal::Mismatch));
                }
            }
        }
    }
}
