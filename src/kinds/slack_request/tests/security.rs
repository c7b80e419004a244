//! Requests that are not quite right do nothing.

use super::*;

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
