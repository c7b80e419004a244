//! The pure path per event: route and parse the payload, decide what it
//! means, build the Block Kit message and serialize it.

use criterion::{Criterion, criterion_group, criterion_main};
use ecs_slack_notifier::event::EventKind;
use ecs_slack_notifier::input::{self, Input};
use ecs_slack_notifier::jobs::JobsConfig;
use ecs_slack_notifier::lifecycle::{self, Decision};
use ecs_slack_notifier::message::{self, JobContext};
use serde_json::Value;

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Bytes in, JSON body out: what the handler does besides I/O.
fn pure_path(bytes: &[u8]) -> String {
    let payload: Value = serde_json::from_slice(bytes).unwrap();
    let Ok(Input::Event(incoming)) = input::route(payload) else { unreachable!() };
    let EventKind::EcsTask(task) = incoming.kind else { unreachable!() };
    let job = JobsConfig::default().job(&task).name;
    let ctx = JobContext::new(&job, "prod", "C0JOBS");
    let message = match lifecycle::decide(&task, &[]) {
        Decision::Start => message::start_message(&ctx, &task),
        Decision::Finish(outcome) => message::completion_message(&ctx, &task, &outcome, Some("1.2")),
        Decision::Stopping(_) | Decision::Ignore(_) => unreachable!(),
    };
    serde_json::to_string(&message).unwrap()
}

fn bench(c: &mut Criterion) {
    for (name, path) in
        [("running", "events/ecs-task-running.json"), ("stopped_failure", "events/ecs-task-stopped-failure.json")]
    {
        let bytes = sample(path);
        c.bench_function(&format!("pure_path/{name}"), |b| b.iter(|| pure_path(std::hint::black_box(&bytes))));
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
