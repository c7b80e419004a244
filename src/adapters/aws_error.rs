//! How an AWS SDK error is told, once for every adapter: in full, with its
//! causes, except when the cause is missing credentials. Then it is one
//! line that says what to set, not the provider chain's account of every
//! source it tried (a local run without AWS credentials is the usual case).

use std::error::Error;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_dynamodb::error::DisplayErrorContext;

/// What to set when no provider in the chain had credentials.
pub const NO_CREDENTIALS: &str = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or \
                                  AWS_PROFILE), and AWS_REGION; for a local run with no AWS account, \
                                  scripts/local-stack.sh writes them to target/local-stack.env";

/// `e` and its causes on one line, or what to set when credentials are missing.
pub fn describe<E: Error + 'static>(e: &E) -> String {
    let mut cause: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(error) = cause {
        if let Some(credentials) = error.downcast_ref::<CredentialsError>() {
            return match credentials {
                CredentialsError::CredentialsNotLoaded(_) => NO_CREDENTIALS.to_owned(),
                other => format!("AWS credentials could not be loaded: {}", one_line(&DisplayErrorContext(other))),
            };
        }
        cause = error.source();
    }
    one_line(&DisplayErrorContext(e))
}

fn one_line(text: &dyn std::fmt::Display) -> String {
    text.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use aws_credential_types::provider::{ProvideCredentials, future};

    use super::*;

    /// The default chain's answer when no provider has credentials.
    #[derive(Debug)]
    struct NoneInTheChain;

    impl ProvideCredentials for NoneInTheChain {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
                "no providers in chain provided credentials: Environment: not loaded; Profile: no profile \
                 file; WebIdentityToken: not loaded; EcsContainer: not loaded; Ec2InstanceMetadata: not loaded",
            )))
        }
    }

    #[tokio::test]
    async fn missing_credentials_are_one_line_that_says_what_to_set() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            // Never reached: the call fails before it is sent.
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(NoneInTheChain)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let e = client.get_item().table_name("t").send().await.unwrap_err();
        let told = describe(&e);
        assert_eq!(told, NO_CREDENTIALS);
        assert!(!told.contains("Ec2InstanceMetadata"), "{told}");
        assert!(DisplayErrorContext(&e).to_string().contains("Ec2InstanceMetadata"), "the full account is longer");
    }

    #[test]
    fn any_other_error_keeps_its_causes() {
        let e = std::io::Error::other("connection\nrefused");
        let told = describe(&e);
        assert!(told.starts_with("connection refused"), "{told}");
        assert!(!told.contains('\n') && told.contains("Other"), "on one line, with its details: {told}");
    }
}
