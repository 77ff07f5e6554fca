//! Wake-ups across servers: what one server announces, every server listening hears.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn a_wake_up_announced_by_one_server_is_heard_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open_sqlite(&dir.path().join("slipway.db"))
        .await
        .unwrap();
    // One server on SQLite: announcing is accepted and goes nowhere.
    sqlite.announce(Wake::Agents, &[]).await.unwrap();
    let Some(url) = fresh_postgres_database().await else {
        return;
    };
    let listening = Store::open(&url).await.unwrap();
    let other = Store::open(&url).await.unwrap();
    let (heard, mut hear) = tokio::sync::mpsc::unbounded_channel();
    listening.listen(move |wake, targets| {
        let _ = heard.send((wake, targets.to_vec()));
    });
    // Connected: it first wakes everything (whatever was announced before it listened).
    let mut first = Vec::new();
    for _ in 0..2 {
        let wake = tokio::time::timeout(Duration::from_secs(30), hear.recv())
            .await
            .expect("the listener connects")
            .expect("the listener lives");
        first.push(wake);
    }
    assert_eq!(
        first,
        [(Wake::Orchestrator, vec![]), (Wake::Agents, vec![])],
        "after connecting, every kind wakes everyone"
    );
    assert!(hear.try_recv().is_err(), "nothing else was announced yet");
    other.announce(Wake::Agents, &[]).await.unwrap();
    let wake = tokio::time::timeout(Duration::from_secs(30), hear.recv())
        .await
        .expect("another server's announcement arrives")
        .expect("the listener lives");
    assert_eq!(wake, (Wake::Agents, vec![]));
    // A dispatch names the targets it gave work to: only their agents look.
    let targets = vec!["web-1".to_string(), "web-2".to_string()];
    other.announce(Wake::Agents, &targets).await.unwrap();
    let wake = tokio::time::timeout(Duration::from_secs(30), hear.recv())
        .await
        .expect("another server's announcement arrives")
        .expect("the listener lives");
    assert_eq!(wake, (Wake::Agents, targets));
    // Too many to name within PostgreSQL's limit: everyone is woken instead.
    let many: Vec<String> = (0..2_000).map(|i| format!("target-{i:05}")).collect();
    other.announce(Wake::Agents, &many).await.unwrap();
    let wake = tokio::time::timeout(Duration::from_secs(30), hear.recv())
        .await
        .expect("another server's announcement arrives")
        .expect("the listener lives");
    assert_eq!(wake, (Wake::Agents, vec![]));
    other.announce(Wake::Orchestrator, &[]).await.unwrap();
    let wake = tokio::time::timeout(Duration::from_secs(30), hear.recv())
        .await
        .expect("another server's announcement arrives")
        .expect("the listener lives");
    assert_eq!(wake, (Wake::Orchestrator, vec![]));
    listening.close().await;
    other.close().await;
    drop_postgres_database(&url).await;
}
