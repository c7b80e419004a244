//! Requests that are not quite right do nothing.

use super::*;
use crate::ports::SlackError;

#[tokio::test(start_paused = true)]
async fn jobs_stop_of_a_task_whose_arn_names_no_cluster_says_it_did_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    // The long ARN format's predecessor: `task/ID`, no cluster.
    let mut running = task_event(RUNNING, TASK);
    let old_arn = format!("arn:aws:ecs:us-east-1:123456789012:task/{TASK}");
    running["detail"]["taskArn"] = json!(old_arn);
    running["resources"] = json!([old_arn]);
    handler.handle(running, fakes.deadline()).await.unwrap();
    let (_, reply) = send(&handler, &fakes, &command(&format!("stop {TASK}"), OPERATOR, "t1")).await;
    let text = reply.unwrap()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("I cannot stop this task"), "{text}");
    assert_eq!(fakes.control.calls(), []);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_secret_is_a_401_like_any_refusal() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    fakes.secrets.unreadable();
    let (status, body) = send(&handler, &fakes, &press("stop_task", &arn(TASK), OPERATOR)).await;
    assert_eq!((status, body), (401, None));
    assert_eq!(fakes.control.calls(), []);
}

#[tokio::test(start_paused = true)]
async fn a_command_without_a_trigger_id_does_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    for trigger in ["", " "] {
        let (status, body) = send(&handler, &fakes, &command("run analyze_sentiment", OPERATOR, trigger)).await;
        assert_eq!(status, 400);
        assert!(body.unwrap().as_str().unwrap().contains("without a trigger_id"));
    }
    assert_eq!(fakes.control.calls(), []);
    // And it claimed nothing: the same command with a trigger runs.
    send(&handler, &fakes, &command("run analyze_sentiment", OPERATOR, "t1")).await;
    assert_eq!(fakes.control.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn slacks_error_in_an_answer_is_escaped() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    fakes.slack.fail_next(SlackError::Api("<!channel> <@U0BOSS> & co".into()));
    send(&handler, &fakes, &press("stop_task", &arn(TASK), OPERATOR)).await;
    let told = answers(&fakes);
    assert_eq!(fakes.control.calls().len(), 1, "stopped");
    assert!(
        told[0].starts_with("Done, but I could not say so in its thread")
            && told[0].contains("&lt;!channel&gt; &lt;@U0BOSS&gt; &amp; co"),
        "{told:?}"
    );
}
