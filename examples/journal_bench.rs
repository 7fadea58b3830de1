//! Journal benchmark: inserting a large batch, counting it, streaming it, recording every row through the writer
//! from 16 concurrent workers, then what `resume` of the finished batch costs.
//!
//! `cargo run --release --example journal_bench -- [ROWS]` (default 1,000,000).

use std::sync::Arc;
use std::time::Instant;
use tpbulk::input::{SourceFormat, TextEncoding};
use tpbulk::journal::{Journal, NewBatch, NewRow, Outcome, RowState};

fn main() -> anyhow::Result<()> {
    let rows: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let mut journal = Journal::open(&path)?;
    let batch = journal.create_batch(&NewBatch {
        name: Some("bench".into()),
        input_path: "bench.csv".into(),
        input_sha256: "0".repeat(64),
        format: SourceFormat::Csv {
            delimiter: b',',
            encoding: TextEncoding::Utf8,
        },
        columns: vec![],
        options: serde_json::json!({}),
        profile: None,
        input_columns: None,
    })?;

    let t = Instant::now();
    journal.insert_rows(
        &batch,
        (1..=rows).map(|row| NewRow {
            row,
            action: tpbulk::journal::Action::Create,
            device_uid: None,
            previous: None,
            message: None,
            kind: Some(tpbulk::device::Kind::Otaa),
            id: Some(format!("70B3D57E{row:08X}")),
            name: Some(format!("sensor-{row}")),
            state: RowState::Pending,
            request: Some(format!(
                r#"{{"name":"sensor-{row}","EUI":"70B3D57E{row:08X}","activation":"OTAA","appEUI":"70B3D57ED0000000","appKey":"2B7E151628AED2A6ABF7158809CF4F3C","model":{{"ID":"LORA/GenericA.1.0.2a_ETSI"}},"routeRefs":[{{"ID":"1972"}}],"networkSubscriptionsHandlingMode":"ADVANCED"}}"#
            )),
            errors: vec![],
            device_href: None,
            device_eui: None,
            keys: tpbulk::device::LookupKeys {
                eui: Some(format!("70B3D57E{row:08X}")),
                ..Default::default()
            },
        }),
    )?;
    let insert = t.elapsed();
    println!(
        "insert_rows: {rows} rows in {:.2?} ({:.0} rows/s)",
        insert,
        rows as f64 / insert.as_secs_f64()
    );

    let t = Instant::now();
    let counts = journal.counts(&batch)?;
    println!("counts (all pending): {:.2?} {counts:?}", t.elapsed());

    let t = Instant::now();
    let mut streamed = 0u64;
    journal.for_each_row(
        &batch,
        Some(&[RowState::Pending, RowState::Sending]),
        |_| {
            streamed += 1;
            Ok(())
        },
    )?;
    println!(
        "for_each_row pending: {streamed} rows in {:.2?}",
        t.elapsed()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let workers = 16u64;
    let t = Instant::now();
    let (journal, commits) = runtime.block_on(async {
        let writer = Arc::new(journal.into_writer(&batch));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let mut row = w + 1;
                while row <= rows {
                    writer.sending(row).await?;
                    writer.outcome(Outcome {
                        row,
                        state: RowState::Done,
                        attempts: 1,
                        http_status: Some(201),
                        error_code: None,
                        message: None,
                        device_href: Some(format!("/devices/{row}")),
                        device_uid: Some(row.to_string()),
                        device_eui: None,
                    })?;
                    row += workers;
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        let writer = Arc::try_unwrap(writer).map_err(|_| anyhow::anyhow!("writer shared"))?;
        let commits = writer.commits();
        anyhow::Ok((writer.finish().await?, commits))
    })?;
    let run = t.elapsed();
    println!(
        "writer, {workers} workers, sending + outcome per row: {rows} rows in {run:.2?} ({:.0} rows/s, {commits} commits)",
        rows as f64 / run.as_secs_f64()
    );

    // What `resume` of the finished batch needs from the journal: find the batch, count, find nothing to send.
    let t = Instant::now();
    let journal = {
        drop(journal);
        Journal::open_existing(&path)?
    };
    let info = journal.latest_batch(false)?.expect("the batch");
    let counts = journal.counts(&info.id)?;
    let mut left = 0;
    journal.for_each_row(
        &info.id,
        Some(&[RowState::Pending, RowState::Sending]),
        |_| {
            left += 1;
            Ok(())
        },
    )?;
    println!(
        "resume of the finished batch (open, counts, stream unfinished): {:.2?}, {left} rows left, {counts:?}",
        t.elapsed()
    );
    let size = std::fs::metadata(&path)?.len();
    println!("journal size: {:.1} MiB", size as f64 / 1048576.0);
    Ok(())
}
