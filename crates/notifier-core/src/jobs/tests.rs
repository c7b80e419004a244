//! Rules, names, channels, settings and validation of `JOBS_CONFIG`.

use super::matcher::glob;
use super::*;
use crate::event::{ContainerOverride, KeyValue, Overrides};

fn task(family: &str, container: &str, command: &[&str], env: &[(&str, &str)]) -> EcsTask {
    EcsTask {
        task_arn: "arn:aws:ecs:us-east-1:1:task/c/abc".into(),
        group: Some(format!("family:{family}")),
        containers: vec![crate::event::Container { name: container.into(), ..Default::default() }],
        overrides: Some(Overrides {
            container_overrides: vec![ContainerOverride {
                name: container.into(),
                command: (!command.is_empty()).then(|| command.iter().map(|s| s.to_string()).collect()),
                environment: env.iter().map(|(n, v)| KeyValue { name: n.to_string(), value: v.to_string() }).collect(),
                ..ContainerOverride::default()
            }],
            ..Overrides::default()
        }),
        ..EcsTask::default()
    }
}

fn example() -> JobsConfig {
    let path = &format!("{}/config/jobs.example.json", crate::REPO_ROOT);
    JobsConfig::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_products_five_jobs() {
    let config = example();
    let prices = "market-pulse-collect-stock-prices";
    let reddit = "market-pulse-reddit-scraper";
    let cmd = |s: &'static str| s.split(' ').collect::<Vec<_>>();
    let table = [
        (
            task(prices, "collect-stock-prices", &cmd("python -m jobs.collect_stock_prices --type current"), &[]),
            "collect_stock_prices",
            Notify::Failures,
        ),
        (
            task(prices, "collect-stock-prices", &cmd("python -m jobs.collect_stock_prices --type historical"), &[]),
            "collect_stock_prices_historical",
            Notify::All,
        ),
        (task(prices, "collect-stock-prices", &[], &[]), "collect_stock_prices", Notify::Failures),
        (task("market-pulse-analyze-sentiment", "analyze-sentiment", &[], &[]), "analyze_sentiment", Notify::All),
        (task(reddit, "reddit-scraper", &[], &[]), "reddit_scraper", Notify::All),
        (task(reddit, "reddit-scraper", &[], &[("BACKFILL", "true")]), "reddit_scraper_backfill", Notify::All),
    ];
    for (task, name, notify) in table {
        let job = config.job(&task);
        assert_eq!((job.name.as_str(), job.notify), (name, notify), "{:?}", task.overrides);
    }
}

#[test]
fn defaults_without_rules() {
    let config = JobsConfig::default();
    let job = config.job(&task("market-pulse-etl", "app", &[], &[]));
    assert_eq!(job.name, "market-pulse-etl");
    assert_eq!((job.notify, job.channel, job.mention, job.is_service), (Notify::All, None, None, false));
    let config = JobsConfig { strip_prefix: Some("market-pulse-".into()), snake_case: true, ..JobsConfig::default() };
    assert_eq!(config.job(&task("market-pulse-reddit-scraper", "x", &[], &[])).name, "reddit_scraper");
    assert_eq!(config.job(&task("other-job", "x", &[], &[])).name, "other_job");
    assert_eq!(config.job(&task("market-pulse-", "x", &[], &[])).name, "market_pulse_", "never empty");
}

#[test]
fn log_streams_follow_the_awslogs_naming() {
    let config = example();
    let t = task("market-pulse-analyze-sentiment", "analyze-sentiment", &[], &[]);
    let job = config.job(&t);
    assert_eq!(
        job.log_stream(&t),
        Some(LogStream {
            group: "/ecs/market-pulse-analyze-sentiment".into(),
            stream: "ecs/analyze-sentiment/abc".into()
        })
    );
    assert_eq!(JobsConfig::default().job(&t).log_stream(&t), None, "unknown without log settings");
    // A log router listed first is not the job.
    let mut sidecar = t.clone();
    sidecar.containers.insert(0, crate::event::Container { name: "log_router".into(), ..Default::default() });
    sidecar.essential_containers = Some(vec!["analyze-sentiment".into()]);
    assert_eq!(job.log_stream(&sidecar).unwrap().stream, "ecs/analyze-sentiment/abc");
}

#[test]
fn a_task_without_a_family_is_named_by_its_container_and_ecs_svc_marks_a_service() {
    let config = example();
    let mut t = task("x", "reddit-scraper", &[], &[]);
    t.group = None;
    assert_eq!(config.job(&t).name, "reddit_scraper", "the container's name, made as a family's would be");
    t.started_by = Some("ecs-svc/9223370564342396817".into());
    assert!(config.job(&t).is_service);
}

#[test]
fn stream_settings_default_and_override_per_rule() {
    let config = JobsConfig::parse(
        r#"{"stream_logs": "error", "jobs": [
            {"match": {"family": "noisy"}, "stream_logs": "off"},
            {"match": {"family": "chatty"}, "stream_logs": "info", "stream_logs_max_replies": 5}
        ]}"#,
    )
    .unwrap();
    let job = |family| config.job(&task(family, "c", &[], &[]));
    assert_eq!((job("other").stream_logs, job("other").stream_logs_max_replies), (Threshold::Error, 20));
    assert_eq!(job("noisy").stream_logs, Threshold::Off);
    assert_eq!((job("chatty").stream_logs, job("chatty").stream_logs_max_replies), (Threshold::Info, 5));
    assert_eq!(JobsConfig::default().job(&task("x", "c", &[], &[])).stream_logs, Threshold::Warning);
    let err = JobsConfig::parse(r#"{"stream_logs": "loud"}"#).unwrap_err().to_string();
    assert!(err.contains("stream_logs: unknown variant `loud`, expected one of"), "{err}");
}

#[test]
fn services_are_recognised() {
    let mut t = task("web", "app", &[], &[]);
    t.group = Some("service:web-api".into());
    assert!(JobsConfig::default().job(&t).is_service);
}

#[test]
fn first_matching_rule_wins_and_all_matchers_must_hold() {
    let config = JobsConfig::parse(
        r#"{"jobs": [
            {"match": {"family": "etl-*", "container": "main", "command": "--full"}, "name": "full"},
            {"match": {"family": "etl-*"}, "name": "any", "mention": ["<!here>", "<@U024BE7LH>"]},
            {"match": {"family": "*"}, "name": "never reached for etl"}
        ]}"#,
    )
    .unwrap();
    assert_eq!(config.job(&task("etl-daily", "main", &["run", "--full"], &[])).name, "full");
    assert_eq!(config.job(&task("etl-daily", "side", &["run", "--full"], &[])).name, "any");
    assert_eq!(config.job(&task("etl-daily", "main", &["run"], &[])).mention.as_deref(), Some("<!here> <@U024BE7LH>"));
    assert_eq!(config.job(&task("web", "main", &[], &[])).name, "never reached for etl");
}

#[test]
fn glob_patterns() {
    let table = [
        ("abc", "abc", true),
        ("abc", "abcd", false),
        ("a*", "abc", true),
        ("*c", "abc", true),
        ("a*c", "abbbc", true),
        ("a*b*c", "axbyc", true),
        ("a*b*c", "axcyb", false),
        ("*", "", true),
        ("a*a", "a", false),
    ];
    for (pattern, text, want) in table {
        assert_eq!(glob(pattern, text), want, "{pattern} ~ {text}");
    }
}

#[test]
fn invalid_configuration_points_at_the_entry() {
    let table = [
        ("{not json", "JOBS_CONFIG: key must be a string at line 1 column 2"),
        (
            r#"{"jobs": [{"match": {"family": "a"}, "notify": "sometimes"}]}"#,
            "jobs[0].notify: unknown variant `sometimes`",
        ),
        (r#"{"jobs": [{"match": {"family": "a"}}, {"match": {}}]}"#, "jobs[1].match: give at least one of"),
        (r#"{"jobs": [{"match": {"family": "a"}, "chanel": "C1"}]}"#, "jobs[0].chanel: unknown field `chanel`"),
        (
            r#"{"jobs": [{"match": {"family": "a"}, "mention": "@oncall"}]}"#,
            "jobs[0].mention: \"@oncall\" is not a Slack mention",
        ),
        (r#"{"jobs": [{"match": {"family": "a"}, "mention": "<!subteam^S1> <@U2>"}]}"#, "is not a Slack mention"),
        (r#"{"jobs": [{"match": {"family": "a"}, "name": " "}]}"#, "jobs[0].name: must not be empty"),
        (r#"{"show_environment": "TICKERS"}"#, "show_environment: invalid type: string"),
    ];
    for (json, want) in table {
        let err = JobsConfig::parse(json).unwrap_err().to_string();
        assert!(err.contains(want), "{json}: {err}");
    }
}

#[test]
fn mentions_are_only_slack_mention_syntax() {
    for ok in ["<!subteam^S0123ABC>", "<@U024BE7LH>", "<@W0123>", "<!here>", "<!channel>"] {
        assert!(valid_mention(ok), "{ok}");
    }
    for bad in ["<!subteam^>", "<@u024>", "<!everyone", "here", "<@U1|name>", "<https://x|y>"] {
        assert!(!valid_mention(bad), "{bad}");
    }
}

#[test]
fn schedules_are_checked_at_start_up() {
    let config = JobsConfig::parse(
        r#"{"slow_factor": 3, "jobs": [
            {"match": {"family": "a"}, "name": "daily", "schedule": "cron(0 6 * * ? *)",
             "timezone": "Europe/Berlin", "grace": "10m", "slow_factor": 1.5},
            {"match": {"family": "b"}, "name": "often", "schedule": "rate(5 minutes)"},
            {"match": {"family": "c"}, "name": "unscheduled"}
        ]}"#,
    )
    .unwrap();
    let scheduled: Vec<Job> = config.scheduled().collect();
    assert_eq!(scheduled.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(), ["daily", "often"]);
    let daily = scheduled[0].schedule.as_ref().unwrap();
    assert_eq!(daily.schedule.to_string(), "cron(0 6 * * ? *) Europe/Berlin");
    assert_eq!(daily.grace, std::time::Duration::from_secs(600));
    assert_eq!(scheduled[1].schedule.as_ref().unwrap().grace, DEFAULT_GRACE);
    assert_eq!((scheduled[0].slow_factor, scheduled[1].slow_factor), (1.5, 3.0));
    assert_eq!(config.job_named("daily").slow_factor, 1.5);
    assert_eq!(config.job_named("never-configured").slow_factor, 3.0);
    assert_eq!(JobsConfig::default().job_named("x").slow_factor, DEFAULT_SLOW_FACTOR);

    let table = [
        (
            r#"{"jobs": [{"match": {"family": "a"}, "schedule": "rate(5 minutes)"}]}"#,
            "jobs[0].schedule: a scheduled rule needs a name",
        ),
        (
            r#"{"jobs": [{"match": {"family": "a"}, "name": "x", "schedule": "every day"}]}"#,
            "jobs[0].schedule: \"every day\" is not a schedule",
        ),
        (
            r#"{"jobs": [{"match": {"family": "a"}, "name": "x", "schedule": "cron(0 6 * * *)"}]}"#,
            "jobs[0].schedule: cron(0 6 * * *): AWS cron takes 6 fields",
        ),
        (
            r#"{"jobs": [{"match": {"family": "a"}, "name": "x", "schedule": "rate(1 day)", "timezone": "Moon/Base"}]}"#,
            "jobs[0].timezone: unknown time zone",
        ),
        (
            r#"{"jobs": [{"match": {"family": "a"}, "name": "x", "schedule": "rate(1 day)", "grace": "soon"}]}"#,
            "jobs[0].grace: \"soon\" is not a duration",
        ),
        (
            r#"{"jobs": [{"match": {"family": "a"}, "timezone": "UTC"}]}"#,
            "jobs[0].timezone: only for a rule with a schedule",
        ),
        (r#"{"slow_factor": 0.5}"#, "slow_factor: 0.5 is not a factor of 1 or more"),
        (
            r#"{"jobs": [{"match": {"family": "a"}, "slow_factor": 0}]}"#,
            "jobs[0].slow_factor: must be a factor of 1 or more",
        ),
    ];
    for (json, want) in table {
        let err = JobsConfig::parse(json).unwrap_err().to_string();
        assert!(err.contains(want), "{json}: {err}");
    }
}

#[test]
fn operators_and_run_networks_per_job() {
    let config = JobsConfig::parse(
        r#"{"operators": ["U024BE7LH"], "run": {"subnets": ["subnet-1"]}, "jobs": [
            {"match": {"family": "a"}, "name": "a", "operators": ["U0OTHER1", "W0GRID2"],
             "run": {"subnets": ["subnet-2"], "security_groups": ["sg-1"], "assign_public_ip": true}},
            {"match": {"family": "b"}, "name": "b", "operators": []}
        ]}"#,
    )
    .unwrap();
    assert_eq!(config.job_named("a").operators, ["U0OTHER1", "W0GRID2"]);
    assert_eq!(config.job_named("b").operators, Vec::<String>::new(), "a rule can turn control off");
    assert_eq!(config.job_named("other").operators, ["U024BE7LH"]);
    assert_eq!(config.job_named("a").run.unwrap().security_groups, ["sg-1"]);
    assert_eq!(config.job_named("other").run.unwrap().subnets, ["subnet-1"]);
    assert!(JobsConfig::default().job_named("x").operators.is_empty(), "nobody by default");
    let table = [
        (r#"{"operators": ["@ada"]}"#, "operators: \"@ada\" is not a Slack user ID"),
        (r#"{"jobs": [{"match": {"family": "a"}, "operators": ["u024"]}]}"#, "jobs[0].operators: \"u024\" is not"),
        (r#"{"run": {"subnets": []}}"#, "run.subnets: give at least one subnet"),
        (r#"{"run": {"subnet": ["s"]}}"#, "run.subnet: unknown field"),
    ];
    for (json, want) in table {
        let err = JobsConfig::parse(json).unwrap_err().to_string();
        assert!(err.contains(want), "{json}: {err}");
    }
}

#[test]
fn two_rules_may_not_give_their_tasks_one_name() {
    let table = [
        (
            r#"{"jobs": [{"match": {"family": "a"}, "name": "x"}, {"match": {"family": "b"}, "name": "x"}]}"#,
            r#"jobs[1].name: "x" is already the name of jobs[0]'s tasks"#,
        ),
        (
            r#"{"strip_prefix": "mp-", "snake_case": true, "jobs": [
                {"match": {"family": "mp-other"}, "name": "analyze_sentiment"},
                {"match": {"family": "mp-analyze-sentiment"}, "operators": []}]}"#,
            r#"jobs[1]: its tasks' default name "analyze_sentiment" (family "mp-analyze-sentiment") is already the name of jobs[0]'s tasks"#,
        ),
        (
            r#"{"jobs": [{"match": {"family": "a", "command": "--x"}}, {"match": {"family": "a"}}]}"#,
            r#"jobs[1]: its tasks' default name "a" (family "a") is already the name of jobs[0]'s tasks"#,
        ),
    ];
    for (json, want) in table {
        let err = JobsConfig::parse(json).unwrap_err().to_string();
        assert!(err.contains(want), "{json}: {err}");
    }
    // Wildcard families name their tasks only when they run; the product's
    // own configuration is unambiguous.
    JobsConfig::parse(r#"{"jobs": [{"match": {"family": "a-*"}}, {"match": {"family": "a-*", "command": "x"}}]}"#)
        .unwrap();
    example();
}

#[test]
fn the_rule_that_matched_a_run_decides_its_job_not_its_name() {
    let config = JobsConfig::parse(
        r#"{"strip_prefix": "mp-", "snake_case": true, "operators": ["U0OPERATOR"], "slow_factor": 3, "jobs": [
            {"match": {"family": "mp-analyze-*"}, "operators": ["U0OWNER"], "slow_factor": 10,
             "run": {"subnets": ["subnet-private"]}}]}"#,
    )
    .unwrap();
    let analyze = task("mp-analyze-sentiment", "analyze", &[], &[]);
    let job = config.job(&analyze);
    assert_eq!((job.name.as_str(), job.operators.as_slice()), ("analyze_sentiment", &["U0OWNER".to_owned()][..]));
    // By name alone the unnamed rule is not found: the defaults answer.
    assert_eq!(config.job_named("analyze_sentiment").operators, ["U0OPERATOR"]);
    assert_eq!(config.job_named_as("analyze_sentiment", Some(&analyze)).slow_factor, 10.0);
    assert_eq!(config.job_named_as("renamed", Some(&analyze)).slow_factor, 3.0, "a run of another job");
    assert_eq!(config.job_named_as("analyze_sentiment", None).slow_factor, 3.0);

    let other_family = task("mp-analyze-news", "analyze", &[], &[]);
    let unruled = task("mp-prices", "prices", &[], &[]);
    assert!(config.same_job(&analyze, &analyze.clone()));
    assert!(!config.same_job(&analyze, &other_family), "one rule, two jobs by name");
    assert!(!config.same_job(&analyze, &unruled));
}

#[test]
fn runbooks_are_https_checked_at_start_up_and_named_where() {
    let config = JobsConfig::parse(
        r#"{"runbook": "https://wiki.example.com/jobs", "jobs": [
            {"match": {"family": "a"}, "name": "a", "runbook": "https://wiki.example.com/a#oom"},
            {"match": {"family": "b"}, "name": "b"}]}"#,
    )
    .unwrap();
    let job = |family: &str| config.job(&task(family, "c", &[], &[]));
    assert_eq!(job("a").runbook.as_deref(), Some("https://wiki.example.com/a#oom"), "the rule's own");
    assert_eq!(job("b").runbook.as_deref(), Some("https://wiki.example.com/jobs"), "the top level's");
    assert_eq!(JobsConfig::default().job(&task("a", "c", &[], &[])).runbook, None);
    let table = [
        (r#"{"runbook": "http://wiki.example.com"}"#, "runbook: \"http://wiki.example.com\" is not an https:// URL"),
        (
            r#"{"jobs": [{"match": {"family": "a"}}, {"match": {"family": "b"}, "runbook": "wiki"}]}"#,
            "jobs[1].runbook: \"wiki\" is not an https:// URL",
        ),
        (r#"{"runbook": "https://"}"#, "runbook: \"https://\" has no host"),
        (
            r#"{"runbook": "https://x.com/a|<!channel>"}"#,
            "runbook: \"https://x.com/a|<!channel>\": a URL has no spaces",
        ),
        (r#"{"runbook": "https://x.com/a b"}"#, "a URL has no spaces"),
        (r#"{"runbook": 7}"#, "runbook: invalid type: integer"),
    ];
    for (json, want) in table {
        let err = JobsConfig::parse(json).unwrap_err().to_string();
        assert!(err.contains(want), "{json}: {err}");
    }
    let long = format!(r#"{{"runbook": "https://x.com/{}"}}"#, "a".repeat(MAX_RUNBOOK_CHARS));
    assert!(JobsConfig::parse(&long).unwrap_err().to_string().contains("runbook: longer than"));
}

#[test]
fn fast_runs_and_zero_counts_are_on_unless_turned_off() {
    let config = JobsConfig::parse(
        r#"{"zero_counts": "off", "jobs": [
            {"match": {"family": "a"}, "name": "a", "fast_run": "off"},
            {"match": {"family": "b"}, "name": "b", "zero_counts": "on"}]}"#,
    )
    .unwrap();
    let job = |family: &str| config.job(&task(family, "c", &[], &[])).suspicions;
    let on = crate::health::Suspicions::default();
    assert_eq!((on.fast_run, on.zero_counts), (true, true));
    assert_eq!((job("a").fast_run, job("a").zero_counts), (false, false));
    assert_eq!((job("b").fast_run, job("b").zero_counts), (true, true));
    assert_eq!((job("c").fast_run, job("c").zero_counts), (true, false));
    let err = JobsConfig::parse(r#"{"jobs": [{"match": {"family": "a"}, "fast_run": "never"}]}"#).unwrap_err();
    assert!(err.to_string().contains("jobs[0].fast_run: unknown variant `never`, expected `on` or `off`"), "{err}");
}

#[test]
fn escalation_is_set_at_the_top_and_per_rule_and_checked() {
    let config = JobsConfig::parse(
        r#"{"escalate_after": "30m", "escalate_to": ["U0ONCALL1"], "jobs": [
            {"match": {"family": "a"}, "name": "a"},
            {"match": {"family": "b"}, "name": "b", "escalate_after": "2h", "escalate_to": ["S0DATAENG"]},
            {"match": {"family": "c"}, "name": "c", "escalate_after": "off"}]}"#,
    )
    .unwrap();
    let e = |name: &str| config.job_named(name).escalation;
    assert_eq!(
        e("a"),
        Some(crate::escalation::Escalation { after: Duration::from_secs(1800), to: vec!["U0ONCALL1".into()] })
    );
    assert_eq!(
        e("b"),
        Some(crate::escalation::Escalation { after: Duration::from_secs(7200), to: vec!["S0DATAENG".into()] })
    );
    assert_eq!(e("c"), None, "off");
    assert_eq!(JobsConfig::default().job_named("a").escalation, None, "unset: never");
    let err = |json: &str| JobsConfig::parse(json).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"escalate_after": "30m"}"#),
        "JOBS_CONFIG: escalate_after: give escalate_to too: whom to mention (user IDs U…, user-group IDs S…)"
    );
    assert!(
        err(r#"{"jobs": [{"match": {"family": "a"}, "escalate_after": "1h"}]}"#)
            .starts_with("JOBS_CONFIG: jobs[0].escalate_after: give escalate_to too"),
    );
    assert!(
        err(r#"{"escalate_to": ["@alice"]}"#)
            .starts_with("JOBS_CONFIG: escalate_to: \"@alice\" is not a Slack user ID")
    );
    assert!(
        err(r#"{"jobs": [{"match": {"family": "a"}, "escalate_to": ["x"]}]}"#)
            .starts_with("JOBS_CONFIG: jobs[0].escalate_to: \"x\""),
    );
    assert!(
        err(r#"{"escalate_after": "10s", "escalate_to": ["U1"]}"#)
            .contains("escalate_after: \"10s\": escalate after a minute at least")
    );
}
