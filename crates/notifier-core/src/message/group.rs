//! A group's message: one line that counts a burst of one job's tasks.

use super::{Field, Message, context, field_sections, header, message, text};
use crate::event::EcsTask;
use crate::group::Counts;

/// `reddit_scraper_backfill ×100 — 37 running · 58 ✅ · 5 ❌`, and once
/// none is running, ✅ or ❌ in front.
pub fn group_headline(job: &str, counts: &Counts) -> String {
    let mut parts = Vec::new();
    if counts.running > 0 {
        parts.push(format!("{} running", counts.running));
    }
    if counts.succeeded > 0 {
        parts.push(format!("{} ✅", counts.succeeded));
    }
    if counts.failed > 0 {
        parts.push(format!("{} ❌", counts.failed));
    }
    let lead = match (counts.finished(), counts.failed) {
        (false, _) => "🚀",
        (true, 0) => "✅",
        (true, _) => "❌",
    };
    format!("{lead} {job} ×{} — {}", counts.total, parts.join(" · "))
}

/// The group's message, in place of its first task's start message.
/// `task`: any of its tasks, for what they share (environment, cluster,
/// image).
pub fn group_message(
    job: &str,
    environment: &str,
    channel: &str,
    task: &EcsTask,
    counts: &Counts,
    window: u64,
) -> Message {
    let headline = group_headline(job, counts);
    let mut fields = vec![Field::raw("Environment", environment)];
    if let Some(cluster) = task.cluster_name() {
        fields.push(Field::raw("Cluster", cluster));
    }
    let images: Vec<&str> = task.containers.iter().filter_map(|c| c.image.as_deref()).collect();
    if let Some(image) = images.first() {
        fields.push(Field::raw("Image", super::task::short_image(image)));
    }
    let mut blocks = vec![header(&headline)];
    blocks.extend(field_sections(fields));
    let failures = if counts.failed > 0 {
        "Each failure is in the thread and in the channel."
    } else {
        "A failure would be posted in the thread and in the channel."
    };
    blocks.push(context(vec![format!(
        "Tasks of this job that started within {} of each other. {failures}",
        text::escape(&plural_secs(window))
    )]));
    message(channel, &headline, blocks, None)
}

fn plural_secs(window: u64) -> String {
    if window == 1 { "1 second".into() } else { format!("{window} seconds") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::limit_violation;

    fn counts(total: usize, running: usize, succeeded: usize, failed: usize) -> Counts {
        Counts { total, running, succeeded, failed }
    }

    #[test]
    fn the_headline_counts_running_successes_and_failures() {
        let job = "reddit_scraper_backfill";
        assert_eq!(
            group_headline(job, &counts(100, 37, 58, 5)),
            "🚀 reddit_scraper_backfill ×100 — 37 running · 58 ✅ · 5 ❌"
        );
        assert_eq!(group_headline(job, &counts(2, 2, 0, 0)), "🚀 reddit_scraper_backfill ×2 — 2 running");
        assert_eq!(group_headline(job, &counts(100, 0, 100, 0)), "✅ reddit_scraper_backfill ×100 — 100 ✅");
        assert_eq!(group_headline(job, &counts(100, 0, 95, 5)), "❌ reddit_scraper_backfill ×100 — 95 ✅ · 5 ❌");
    }

    #[test]
    fn the_message_escapes_what_tasks_say_and_keeps_to_the_limits() {
        let mut task = crate::testing::ecs_task("events/ecs-task-running.json");
        task.containers[0].image = Some("<!channel>/x:<@U1>".into());
        let msg = group_message("job <!here>", "<!everyone>", "C1", &task, &counts(3, 1, 1, 1), 60);
        // The header is plain text, which Slack never parses; the rest is mrkdwn.
        assert!(matches!(&msg.blocks[0], crate::message::Block::Header { .. }));
        let json = serde_json::to_string(&msg.blocks[1..]).unwrap() + &msg.text;
        assert!(!json.contains("<!"), "{json}");
        assert!(!json.contains("<@"), "{json}");
        assert_eq!(limit_violation(&msg.blocks), None);
        assert_eq!(msg.thread_ts, None);
        assert!(msg.text.starts_with("🚀 job &lt;!here&gt; ×3 — 1 running · 1 ✅ · 1 ❌"), "{}", msg.text);
    }
}
