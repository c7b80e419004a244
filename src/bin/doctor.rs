//! `doctor`: checks a notifier's setup, one line per check, and says what
//! to fix (see `ecs_slack_notifier::doctor`). It only reads: it never
//! posts to Slack and never prints the token.

use std::ffi::OsString;
use std::process::ExitCode;

use ecs_slack_notifier::adapters::setup_aws::AwsSetup;
use ecs_slack_notifier::adapters::slack_http::SlackHttpConnect;
use ecs_slack_notifier::app;
use ecs_slack_notifier::doctor::{Doctor, Target};
use ecs_slack_notifier::time::Timestamp;

const USAGE: &str = "usage: doctor [--stack NAME | --function NAME]\n\
    Checks the notifier's setup and says what to fix: the token's secret, Slack's auth.test,\n\
    the bot in each configured channel, the table and its TTL, the EventBridge rules,\n\
    the dead-letter queue and the function's errors in the last 24 h.\n\
    Without options it checks the configuration in this environment (as the function reads it).\n\
    --stack NAME: the deployed stack: its outputs, then its function's environment.\n\
    --function NAME: a deployed function (name or ARN), without its stack.\n\
    Exit status: 0 when every check holds, 1 when one fails, 2 for a usage error.";

/// `None`: help was asked for.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Option<Target>, String> {
    let mut target = Target::Environment;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(|a| format!("not UTF-8: {a:?}"))?;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().and_then(|v| v.into_string().ok()))
                .filter(|v| !v.is_empty() && !v.starts_with('-'))
                .ok_or_else(|| format!("{name} needs a NAME"))
        };
        let chosen = match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--stack" => Target::Stack(value()?),
            "--function" => Target::Function(value()?),
            _ => return Err(format!("unexpected argument {arg}")),
        };
        if target != Target::Environment {
            return Err("give one of --stack and --function".into());
        }
        target = chosen;
    }
    Ok(Some(target))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let target = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(target)) => target,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("doctor: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if std::env::var_os("AWS_LAMBDA_LOG_LEVEL").is_none() && std::env::var_os("RUST_LOG").is_none() {
        // The report is the output; Slack retries show as warnings. A
        // missing region is said in the report's first line, not by each
        // of the SDK's attempts to find one.
        // SAFETY: no other thread reads the environment yet.
        unsafe { std::env::set_var("RUST_LOG", "warn,aws_config=error") };
    }
    ecs_slack_notifier::logging::init(std::io::stderr);

    let aws = app::load_aws_config().await;
    let what = match &target {
        Target::Environment => "the configuration in this environment".to_owned(),
        Target::Stack(stack) => format!("stack {stack}"),
        Target::Function(function) => format!("function {function}"),
    };
    let region = aws.region().map_or_else(|| "no region set".to_owned(), |r| format!("region {r}"));
    println!("doctor: checking {what} ({region})\n");
    let setup = AwsSetup::new(&aws);
    let doctor = Doctor { aws: &setup, slack: &SlackHttpConnect };
    let report = doctor.run(&target, &|name| std::env::var(name).ok(), Timestamp::now()).await;
    print!("{report}");
    ExitCode::from(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Target>, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn targets_and_usage_errors() {
        assert_eq!(parse(&[]), Ok(Some(Target::Environment)));
        assert_eq!(parse(&["--stack", "prod"]), Ok(Some(Target::Stack("prod".into()))));
        assert_eq!(parse(&["--stack=prod"]), Ok(Some(Target::Stack("prod".into()))));
        assert_eq!(parse(&["--function", "arn:aws:lambda:x"]), Ok(Some(Target::Function("arn:aws:lambda:x".into()))));
        assert_eq!(parse(&["--help"]), Ok(None));
        assert_eq!(parse(&["--stack"]), Err("--stack needs a NAME".into()));
        assert_eq!(parse(&["--stack", "--function", "f"]), Err("--stack needs a NAME".into()));
        assert_eq!(parse(&["--stack="]), Err("--stack needs a NAME".into()));
        assert_eq!(parse(&["--stack", "a", "--function", "f"]), Err("give one of --stack and --function".into()));
        assert_eq!(parse(&["prod"]), Err("unexpected argument prod".into()));
    }
}
