//! Test counts in a command's output: cargo, jest/vitest, go test and pytest summary lines.

use std::sync::LazyLock;

use regex::Regex;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct TestCounts {
    pub(super) passed: i64,
    pub(super) failed: i64,
}

static ANSI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").expect("regex compiles"));
static CARGO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed").expect("regex compiles")
});
/// jest `Tests: 2 failed, 10 passed, 12 total`; vitest `Tests  2 failed | 10 passed (12)`.
static JEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*Tests:?\s").expect("regex compiles"));
/// jest/vitest lines that count suites or snapshots, not tests.
static JEST_OTHER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:Test Suites:|Test Files\s|Snapshots:)").expect("regex compiles")
});
/// `go test` package lines: `ok  \tpkg\t0.01s`, `ok  \tpkg\t(cached)`, `FAIL\tpkg\t0.02s`,
/// `FAIL\tpkg [build failed]`. Bare `FAIL` and `--- FAIL: TestX` lines do not match.
static GO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(ok|FAIL)\s+\S+\s+(?:\d+(?:\.\d+)?s\b|\(cached\)|\[)").expect("regex compiles")
});
/// pytest's summary line always ends with its duration.
static PYTEST_DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bin \d+(?:\.\d+)?\s*(?:s|seconds)\b").expect("regex compiles"));
static PASSED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d+) passed\b").expect("regex compiles"));
static FAILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d+) failed\b").expect("regex compiles"));

fn number(caps: Option<&regex::Captures<'_>>, group: usize) -> i64 {
    caps.and_then(|c| c.get(group))
        .and_then(|m| m.as_str().parse().ok())
        .unwrap_or(0)
}

/// Test counts in one command output. Each line is read by the first parser that claims it
/// (cargo, jest/vitest, go, pytest), so one summary line never counts twice.
pub(super) fn parse_tests(output: &str) -> TestCounts {
    let output = ANSI.replace_all(output, "");
    let mut counts = TestCounts::default();
    for line in output.lines() {
        let tally = |line: &str| {
            (
                number(PASSED.captures(line).as_ref(), 1),
                number(FAILED.captures(line).as_ref(), 1),
            )
        };
        let (passed, failed) = if let Some(c) = CARGO.captures(line) {
            (number(Some(&c), 1), number(Some(&c), 2))
        } else if JEST_OTHER.is_match(line) {
            continue;
        } else if JEST.is_match(line) {
            tally(line)
        } else if let Some(c) = GO.captures(line) {
            if &c[1] == "ok" {
                (1, 0)
            } else {
                (0, 1)
            }
        } else if PYTEST_DURATION.is_match(line) {
            tally(line)
        } else {
            continue;
        };
        counts.passed = counts.passed.saturating_add(passed);
        counts.failed = counts.failed.saturating_add(failed);
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_output_parsers() {
        let t = |passed, failed| TestCounts { passed, failed };
        let jest = "PASS src/a.test.js\nTest Suites: 1 failed, 2 passed, 3 total\n\
                    Tests:       2 failed, 10 passed, 12 total\nSnapshots:   0 total\nTime: 1.2 s";
        assert_eq!(parse_tests(jest), t(10, 2));
        let vitest = " Test Files  1 passed (1)\n      Tests  4 passed (4)\n   Duration  1.2s";
        assert_eq!(parse_tests(vitest), t(4, 0));
        let colored = "\x1b[1mTests:\x1b[22m       \x1b[32m3 passed\x1b[39m, 3 total";
        assert_eq!(parse_tests(colored), t(3, 0));
        let go = "=== RUN   TestA\n--- FAIL: TestA (0.00s)\nFAIL\nFAIL\texample.com/a\t0.02s\n\
                  ok  \texample.com/b\t0.01s\tcoverage: 80.0% of statements\n\
                  ok  \texample.com/c\t(cached)\n?   \texample.com/d\t[no test files]\n\
                  FAIL\texample.com/e [build failed]";
        assert_eq!(parse_tests(go), t(2, 2));
        let cargo = "running 3 tests\ntest a ... ok\n\
                     test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
                     test result: FAILED. 5 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.20s";
        assert_eq!(parse_tests(cargo), t(8, 2));
        let pytest =
            "tests/test_a.py::test_x PASSED\nFAILED tests/test_a.py::test_y - assert 1 == 2\n\
                      ========= 1 failed, 5 passed, 2 skipped in 2.30s =========";
        assert_eq!(parse_tests(pytest), t(5, 1));
        assert_eq!(parse_tests("=== 3 passed in 0.12 seconds ==="), t(3, 0));
        assert_eq!(parse_tests("All 3 passed checks look fine"), t(0, 0));
        assert_eq!(parse_tests("ok 1 - tap line\nok"), t(0, 0));
        assert_eq!(parse_tests("99999999999999999999 passed in 1s"), t(0, 0));
    }
}
