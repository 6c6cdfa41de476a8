//! The README's five-minute tour, run as a reader would paste it: every ```sh block from
//! "## A five-minute tour" to "## Documentation", in order, in one bash session (`set -euo
//! pipefail`), against the `roster` binary this test binary was built with. Only the binary and the
//! port change: `cargo build --release --bin roster` is skipped, `target/release/roster` and
//! `cargo run --release --bin roster --` become the built binary, and `127.0.0.1:8080` becomes a
//! free loopback port. The tour starts `roster dev` itself; the test ends it with the whole process
//! group, whatever happens.
//!
//! Each command's output is checked against the `# …` comment lines that follow it:
//! - a JSON comment is a pattern: every key shown must be there with the value shown; `…` stands
//!   for what the reader cannot know (`"job_01…"` is a prefix, `"…"` any string, a bare `…` any
//!   value, `,…}` more keys, `,…]` more elements); an array without `,…]` has exactly the
//!   elements shown. Text after the JSON (`(202)`) is a remark.
//! - any other comment is text the output must contain (a remark after two spaces and `(` aside).
//!
//! A command the README shows no answer for must not answer with an error envelope.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{TempDir, free_port};

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
/// Stands for a bare `…` in a value position: anything.
const ANY: &str = "\u{0}any";
/// Stands for a bare `…` element of an array: any number of elements.
const MANY: &str = "\u{0}many";
/// The whole tour may take this long (it starts `roster dev` and long-polls once).
const TOUR_DEADLINE: Duration = Duration::from_secs(240);

/// One command of the tour (continuation lines joined) and the comment lines after it.
#[derive(Debug)]
struct Step {
    command: String,
    expect: Vec<String>,
}

/// The ```sh blocks of the tour, in order.
fn tour_blocks(readme: &str) -> Vec<String> {
    let start = readme
        .find("## A five-minute tour")
        .expect("README has \"## A five-minute tour\"");
    let end = readme[start..]
        .find("## Documentation")
        .map(|e| start + e)
        .expect("README has \"## Documentation\" after the tour");
    let mut blocks = Vec::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + "```sh\n".len()..];
        let close = body.find("```").expect("a ```sh block is closed");
        blocks.push(body[..close].to_owned());
        rest = &body[close + 3..];
    }
    blocks
}

/// Replaces the build and the binary by the binary under test, and port 8080 by `port`.
fn substitute(block: &str, bin: &str, port: u16) -> String {
    block
        .lines()
        .filter(|l| l.trim() != "cargo build --release --bin roster")
        .map(|l| {
            l.replace("cargo run --release --bin roster --", bin)
                .replace("target/release/roster", bin)
                .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits blocks into commands and the comment lines that follow each.
fn steps(blocks: &[String]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for block in blocks {
        let mut lines = block.lines();
        while let Some(line) = lines.next() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.trim_start().strip_prefix('#') {
                let step = steps.last_mut().expect("a comment line follows a command");
                step.expect.push(comment.trim().to_owned());
                continue;
            }
            let mut command = line.to_owned();
            while command.ends_with('\\') {
                let next = lines.next().expect("a continued line has a next line");
                command.push('\n');
                command.push_str(next);
            }
            steps.push(Step {
                command,
                expect: Vec::new(),
            });
        }
    }
    steps
}

/// The end (exclusive, in bytes) of the balanced JSON text at the start of `s`.
fn json_end(s: &str) -> Option<usize> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (i, c) in s.char_indices() {
        if in_str {
            match c {
                _ if esc => esc = false,
                '\\' => esc = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// A commented JSON answer as a pattern: a bare `…` where a key would be is dropped (objects
/// always allow more keys), as an element of an array it becomes [`MANY`], elsewhere [`ANY`].
fn pattern(comment: &str) -> Value {
    let mut out = String::new();
    let (mut in_str, mut esc, mut skip_comma) = (false, false, false);
    let mut nesting = Vec::new();
    let chars: Vec<char> = comment.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_str {
            out.push(c);
            match c {
                _ if esc => esc = false,
                '\\' => esc = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        if skip_comma && !c.is_whitespace() {
            skip_comma = false;
            if c == ',' {
                continue;
            }
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                nesting.push(c);
                out.push(c);
            }
            '}' | ']' => {
                nesting.pop();
                out.push(c);
            }
            '…' => {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                let prev = out.trim_end().chars().last();
                let key_position = nesting.last() == Some(&'{') && matches!(prev, Some(',' | '{'));
                if key_position {
                    if next == Some(&'}') {
                        let kept = out.trim_end().trim_end_matches(',').len();
                        out.truncate(kept);
                    } else {
                        skip_comma = true;
                    }
                } else if nesting.last() == Some(&'[') {
                    out.push_str(&serde_json::to_string(MANY).expect("a string"));
                } else {
                    out.push_str(&serde_json::to_string(ANY).expect("a string"));
                }
            }
            _ => out.push(c),
        }
    }
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("the README's comment {comment} is not JSON with `…`: {e}"))
}

/// Whether `a` is `p` with each `…` standing for any text.
fn glob(p: &str, a: &str) -> bool {
    let parts: Vec<&str> = p.split('…').collect();
    let Some(mut rest) = a.strip_prefix(parts[0]) else {
        return false;
    };
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(parts[parts.len() - 1])
}

/// Whether `actual` matches `pattern` (see the module doc); the error names the first difference.
fn matches(pattern: &Value, actual: &Value, at: &str) -> Result<(), String> {
    let differ = || Err(format!("at {at}: the README shows {pattern}, got {actual}"));
    match (pattern, actual) {
        (Value::String(p), _) if p == ANY => Ok(()),
        (Value::String(p), Value::String(a)) if p.contains('…') => {
            if glob(p, a) {
                Ok(())
            } else {
                differ()
            }
        }
        (Value::Object(p), Value::Object(a)) => {
            for (k, v) in p {
                match a.get(k) {
                    Some(av) => matches(v, av, &format!("{at}.{k}"))?,
                    None => return Err(format!("at {at}: no key {k:?} in {actual}")),
                }
            }
            Ok(())
        }
        (Value::Array(p), Value::Array(a)) => matches_seq(p, a, 0, at),
        _ if pattern == actual => Ok(()),
        _ => differ(),
    }
}

/// Whether the elements `a` (from index `from`) match the element patterns `p`, where a [`MANY`]
/// takes any number of elements.
fn matches_seq(p: &[Value], a: &[Value], from: usize, at: &str) -> Result<(), String> {
    match p.split_first() {
        None if a.is_empty() => Ok(()),
        None => Err(format!(
            "at {at}: more elements than the README shows, from [{from}]: {}",
            Value::from(a.to_vec())
        )),
        Some((first, rest)) if first.as_str() == Some(MANY) => (0..=a.len())
            .find(|&skip| matches_seq(rest, &a[skip..], from + skip, at).is_ok())
            .map(|_| ())
            .ok_or_else(|| {
                format!(
                    "at {at}: no elements from [{from}] on match {}",
                    Value::from(rest.to_vec())
                )
            }),
        Some((first, rest)) => {
            let Some((head, tail)) = a.split_first() else {
                return Err(format!(
                    "at {at}: fewer elements than the README shows, missing {first}"
                ));
            };
            matches(first, head, &format!("{at}[{from}]"))?;
            matches_seq(rest, tail, from + 1, at)
        }
    }
}

/// Checks one command's output against the comment lines after it.
fn check(step: &Step, output: &str) -> Result<(), String> {
    let shown = step.expect.join("");
    if shown.is_empty() {
        // No answer shown: an error envelope of any family is a broken example.
        if let Ok(v) = serde_json::from_str::<Value>(output.trim())
            && (v.get("error").is_some_and(|e| !e.is_null())
                || v.get("status").and_then(Value::as_str) == Some("error")
                || v.get("success") == Some(&Value::Bool(false)))
        {
            return Err(format!(
                "the README shows no answer, and the answer is an error: {v}"
            ));
        }
        return Ok(());
    }
    if shown.starts_with('{') || shown.starts_with('[') {
        let end = json_end(&shown)
            .unwrap_or_else(|| panic!("the README's comment {shown} is unbalanced JSON"));
        let want = pattern(&shown[..end]);
        let got: Value = serde_json::from_str(output.trim())
            .map_err(|e| format!("the answer is not one JSON value ({e}): {output:?}"))?;
        return matches(&want, &got, "$");
    }
    let text = shown.split("  (").next().unwrap_or_default().trim();
    if output.contains(text) {
        Ok(())
    } else {
        Err(format!("the output does not contain {text:?}: {output:?}"))
    }
}

/// The bash session's process group: ended (SIGTERM, then SIGKILL) on drop, so `roster dev`,
/// started in the background by the tour, never outlives the test.
struct Session {
    bash: Child,
}

impl Session {
    fn signal(&self, sig: libc::c_int) -> bool {
        let group = -(self.bash.id() as libc::pid_t);
        #[expect(unsafe_code, reason = "signalling the process group we created")]
        // SAFETY: kill(2) on the process group of a child we spawned with its own group.
        let r = unsafe { libc::kill(group, sig) };
        r == 0
    }

    /// Waits for bash to exit, up to `deadline`.
    fn wait(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.bash.try_wait().expect("wait for bash") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        let _ = self.bash.try_wait();
        // `roster dev` shuts down gracefully on SIGTERM (and removes its data directory).
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.signal(0) && Instant::now() < deadline {
            let _ = self.bash.try_wait();
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal(libc::SIGKILL);
        let _ = self.bash.wait();
    }
}

/// The last `n` lines of a file but `roster dev`'s info logs, for failure messages.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains(" INFO")).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every example of the tour works when pasted as written, and answers what the README shows.
#[test]
fn readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(README).expect("read README.md");
    let blocks = tour_blocks(&readme);
    assert!(blocks.len() >= 6, "found the tour's sh blocks: {blocks:?}");
    let bin = env!("CARGO_BIN_EXE_roster");
    let port = free_port();
    let blocks: Vec<String> = blocks.iter().map(|b| substitute(b, bin, port)).collect();
    let steps = steps(&blocks);
    for s in &steps {
        assert!(
            !s.command.contains("cargo ") && !s.command.contains("8080"),
            "the test only replaces the binary and 127.0.0.1:8080; this command would escape it: {}",
            s.command
        );
    }
    assert!(
        steps.iter().filter(|s| !s.expect.is_empty()).count() >= 8,
        "the tour shows answers: {steps:?}"
    );

    // One session, a marker before each command so each output can be told apart.
    let dir = TempDir::new("readme");
    let mut script = String::from("set -euo pipefail\n");
    for (i, s) in steps.iter().enumerate() {
        script.push_str(&format!("printf '\\n@@step {i}@@\\n'\n{}\n", s.command));
    }
    script.push_str("printf '\\n@@end@@\\n'\n");
    let script_path = dir.path().join("tour.sh");
    std::fs::write(&script_path, &script).expect("write the tour script");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut cmd = Command::new("bash");
    cmd.arg(&script_path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .process_group(0);
    // A reader's fresh shell: no Roster settings from the environment running the tests.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ROSTER_") {
            cmd.env_remove(k);
        }
    }
    let mut session = Session {
        bash: cmd.spawn().expect("bash must be installed"),
    };
    let status = session.wait(Instant::now() + TOUR_DEADLINE);
    let output = std::fs::read_to_string(&out_path).expect("read the tour's output");

    // Outputs by step; the last marker seen is the step that stopped the session.
    let mut outputs = vec![None; steps.len()];
    let mut finished = false;
    for chunk in output.split("\n@@").skip(1) {
        let (marker, text) = chunk.split_once("@@\n").unwrap_or((chunk, ""));
        if marker == "end" {
            finished = true;
        } else if let Some(i) = marker
            .strip_prefix("step ")
            .and_then(|n| n.parse::<usize>().ok())
        {
            outputs[i] = Some(text.to_owned());
        }
    }
    if !finished {
        let last = outputs.iter().rposition(Option::is_some);
        panic!(
            "the tour stopped ({}) at {}\noutput: {:?}\nstderr:\n{}",
            status.map_or("still running at the deadline".to_owned(), |s| s
                .to_string()),
            last.map_or("its start".to_owned(), |i| steps[i].command.clone()),
            last.and_then(|i| outputs[i].clone()).unwrap_or_default(),
            tail(&err_path, 20),
        );
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "bash: {status:?}\n{}",
        tail(&err_path, 20)
    );

    let failures: Vec<String> = steps
        .iter()
        .zip(&outputs)
        .filter_map(|(s, out)| {
            let out = out.as_deref().expect("every step ran");
            check(s, out)
                .err()
                .map(|e| format!("{}\n  {e}", s.command.replace(bin, "target/release/roster")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "README examples that do not answer what the README shows:\n\n{}",
        failures.join("\n\n")
    );
}

/// The comment patterns themselves: strict where the README is concrete.
#[test]
fn readme_patterns_are_strict_where_concrete() {
    let p = pattern(
        r#"{"success":true,…,"jobId":"job_01…","usage":{"period":"…"},"list":[1,…],"id":…,…}"#,
    );
    let ok = serde_json::json!({"success": true, "jobId": "job_01ABC", "usage": {"period": "2026-12"},
        "list": [1, 2, 3], "id": 7, "more": 1});
    assert_eq!(matches(&p, &ok, "$"), Ok(()));
    for bad in [
        serde_json::json!({"error": "BAD_REQUEST", "message": "…"}),
        serde_json::json!({"success": false, "jobId": "job_01ABC", "usage": {"period": "x"}, "list": [1], "id": 1}),
        serde_json::json!({"success": true, "jobId": "job_02ABC", "usage": {"period": "x"}, "list": [1], "id": 1}),
        serde_json::json!({"success": true, "jobId": "job_01ABC", "usage": {}, "list": [1], "id": 1}),
        serde_json::json!({"success": true, "jobId": "job_01ABC", "usage": {"period": "x"}, "list": [], "id": 1}),
        serde_json::json!({"success": true, "jobId": "job_01ABC", "usage": {"period": "x"}, "list": [1]}),
    ] {
        assert!(
            matches(&p, &bad, "$").is_err(),
            "{bad} should not match {p}"
        );
    }
    let exact = pattern(r#"{"removed_roles":[],"added":["…","…"]}"#);
    assert!(
        matches(
            &exact,
            &serde_json::json!({"removed_roles": [], "added": ["a", "b"]}),
            "$"
        )
        .is_ok()
    );
    assert!(
        matches(
            &exact,
            &serde_json::json!({"removed_roles": ["r"], "added": ["a", "b"]}),
            "$"
        )
        .is_err()
    );
    assert!(
        matches(
            &exact,
            &serde_json::json!({"removed_roles": [], "added": ["a"]}),
            "$"
        )
        .is_err()
    );
    let within = pattern(r#"[…,{"k":2,…},…]"#);
    assert!(
        matches(
            &within,
            &serde_json::json!([{"k": 1}, {"k": 2, "x": 0}, {"k": 3}]),
            "$"
        )
        .is_ok()
    );
    assert!(matches(&within, &serde_json::json!([{"k": 1}, {"k": 3}]), "$").is_err());
    let code = pattern(r#"{"error":"NO_MATCHING_RULE","message":"no rule matches rank 30",…}"#);
    assert!(
        matches(
            &code,
            &serde_json::json!({"error": "RANK_GUARDED", "message": "no rule matches rank 30"}),
            "$"
        )
        .is_err()
    );
}
