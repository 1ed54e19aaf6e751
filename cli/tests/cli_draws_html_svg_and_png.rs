//! `spandb trace|graph|metrics --output html|svg|png|dot` on the built-in example, end to end
//! through the binary: pages are self-contained, SVGs parse, PNGs decode with ink, and the
//! commands that do not draw refuse image formats with the usage status (2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use spandb::render::png::{decode_png, parse_svg};

fn spandb(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spandb"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run spandb")
}

fn ok(o: Output) -> Vec<u8> {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn text(o: Output) -> String {
    String::from_utf8(ok(o)).expect("utf-8")
}

fn assert_png(bytes: &[u8], what: &str) {
    let (w, h, rgba) = decode_png(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    let inked = rgba
        .chunks_exact(4)
        .filter(|p| p[..3] != [255, 255, 255])
        .count();
    assert!(w >= 400 && h >= 100, "{what}: {w}x{h}");
    assert!(
        inked as f64 > 0.01 * f64::from(w * h),
        "{what}: blank ({inked} px)"
    );
}

fn assert_self_contained(page: &str, what: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"), "{what}");
    for outside in ["<link", "src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(outside), "{what}: {outside}");
    }
}

#[test]
fn trace_graph_and_metrics_draw_pages_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path();
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/sample.jsonl");
    ok(spandb(db, &["import", sample.to_str().unwrap()]));
    let found: serde_json::Value = serde_json::from_str(&text(spandb(
        db,
        &[
            "search",
            "{ status = error }",
            "--limit",
            "1",
            "--output",
            "json",
        ],
    )))
    .unwrap();
    let id = found["traces"][0]["traceID"].as_str().unwrap().to_owned();

    let page = text(spandb(db, &["trace", &id, "--output", "html"]));
    assert_self_contained(&page, "trace html");
    assert!(page.contains(&format!("trace {id}")));
    assert_eq!(
        parse_svg(&text(spandb(db, &["trace", &id, "--output", "svg"]))).unwrap(),
        "svg"
    );
    assert_png(
        &ok(spandb(db, &["trace", &id, "--output", "png"])),
        "trace png",
    );

    let dot = text(spandb(db, &["graph", "--output", "dot"]));
    assert!(
        dot.starts_with("digraph services {") && dot.contains(" -> "),
        "{dot}"
    );
    assert_eq!(
        parse_svg(&text(spandb(db, &["graph", "--output", "svg"]))).unwrap(),
        "svg"
    );
    assert_png(&ok(spandb(db, &["graph", "--output", "png"])), "graph png");
    assert_self_contained(
        &text(spandb(db, &["graph", "--output", "html"])),
        "graph html",
    );

    let q = "{ kind = server } | quantile_over_time(duration, .99) by (resource.service.name)";
    let step = ["--step", "5m"];
    let svg = text(spandb(
        db,
        &[&["metrics", q, "--output", "svg"][..], &step].concat(),
    ));
    assert_eq!(parse_svg(&svg).unwrap(), "svg");
    assert!(svg.contains("ms<"), "value axis in units");
    assert_png(
        &ok(spandb(
            db,
            &[&["metrics", q, "--output", "png"][..], &step].concat(),
        )),
        "metrics png",
    );
    assert_self_contained(
        &text(spandb(
            db,
            &[&["metrics", q, "--output", "html"][..], &step].concat(),
        )),
        "metrics html",
    );

    assert_eq!(
        spandb(db, &["stats", "--output", "png"]).status.code(),
        Some(2)
    );
    assert_eq!(
        spandb(db, &["trace", &id, "--output", "dot"]).status.code(),
        Some(2)
    );
}
