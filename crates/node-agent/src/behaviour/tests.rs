//! Table-driven tests of the catalog, the reference rules and the interpreter, plus golden
//! transcripts (`data/testdata/behaviour.golden`; `UPDATE_GOLDEN=1` rewrites it).

use super::*;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// 2026-01-01T00:00:00Z: the fixed start so `date` and log timestamps are reproducible.
fn epoch() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_767_225_600).expect("valid timestamp")
}

/// A launch builder.
#[derive(Default, Clone)]
struct L(Launch);

impl L {
    fn cmd(mut self, v: &[&str]) -> L {
        self.0.command = s(v);
        self
    }
    fn args(mut self, v: &[&str]) -> L {
        self.0.args = s(v);
        self
    }
    fn env(mut self, k: &str, v: &str) -> L {
        self.0.env.insert(k.into(), v.into());
        self
    }
    fn ann(mut self, k: &str, v: &str) -> L {
        self.0.overrides.insert(k.into(), v.into());
        self
    }
}

fn start(image: &str, launch: &L) -> Result<Process, StartError> {
    let info = Catalog::builtin()
        .resolve(image)
        .unwrap_or_else(|e| panic!("{image}: {e}"));
    Process::start(&info, &launch.0).map(|p| p.with_clock(api::clock::Clock::REAL_TIME, epoch()))
}

fn fmt_event(at: Duration, e: &ProcessEvent) -> String {
    let t = format!("{:.3}s", at.as_secs_f64());
    match e {
        ProcessEvent::Log {
            line,
            stderr: false,
        } => format!("{t} out {line:?}"),
        ProcessEvent::Log { line, stderr: true } => format!("{t} err {line:?}"),
        ProcessEvent::Memory(m) => format!("{t} memory {m}"),
        ProcessEvent::Exit(c) => format!("{t} exit {c}"),
    }
}

/// The first `n` events as `time kind value` lines (`forever` when it runs on silently).
fn transcript(p: &mut Process, n: usize) -> Vec<String> {
    let mut at = Duration::ZERO;
    let mut out = Vec::new();
    for _ in 0..n {
        match p.next() {
            Some((d, e)) => {
                at += d;
                out.push(fmt_event(at, &e));
                if matches!(e, ProcessEvent::Exit(_)) {
                    break;
                }
            }
            None => {
                out.push(format!("{:.3}s forever", at.as_secs_f64()));
                break;
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------
// References and the registry.

#[test]
fn references_normalise_as_containerd_does() {
    let cases: &[(&str, &str, Result<&str, &str>)] = &[
        ("short name", "nginx", Ok("docker.io/library/nginx:latest")),
        (
            "short name with tag",
            "nginx:1.27.3",
            Ok("docker.io/library/nginx:1.27.3"),
        ),
        (
            "user repository",
            "curlimages/curl",
            Ok("docker.io/curlimages/curl:latest"),
        ),
        (
            "explicit docker.io",
            "docker.io/nginx:alpine",
            Ok("docker.io/library/nginx:alpine"),
        ),
        (
            "index.docker.io",
            "index.docker.io/library/busybox",
            Ok("docker.io/library/busybox:latest"),
        ),
        (
            "other registry",
            "registry.k8s.io/pause:3.9",
            Ok("registry.k8s.io/pause:3.9"),
        ),
        (
            "registry with port",
            "localhost:5000/app",
            Ok("localhost:5000/app:latest"),
        ),
        (
            "tag and digest keep only the digest",
            "nginx:1.27@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            Ok(
                "docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ),
        (
            "uppercase",
            "Nginx",
            Err("invalid reference format: repository name (library/Nginx) must be lowercase"),
        ),
        ("empty tag", "nginx:", Err("invalid reference format")),
        (
            "short digest",
            "nginx@sha256:abc",
            Err("invalid reference format"),
        ),
        ("bad characters", "ngi nx", Err("invalid reference format")),
    ];
    for (name, input, want) in cases {
        let got = reference::parse(input).map(|r| r.to_string());
        assert_eq!(
            got.as_deref().map_err(|e| e.as_str()),
            want.map_err(|e| e),
            "case {name}"
        );
    }
}

#[test]
fn the_registry_answers_as_containerd_via_the_kubelet() {
    let catalog = Catalog::builtin();
    let ok = |r: &'static str| Ok::<&str, (&str, String)>(r);
    let err = |code: &'static str, m: &str| Err::<&str, (&str, String)>((code, m.to_string()));
    let nginx_digest = digest_of("docker.io/library/nginx:1.27.3");
    let with_digest = format!("nginx@{nginx_digest}");
    let unknown_digest = format!("nginx@sha256:{}", "1".repeat(64));
    let cases: Vec<(&str, &str, Result<&str, (&str, String)>)> = vec![
        (
            "nginx latest",
            "nginx",
            ok("docker.io/library/nginx:latest"),
        ),
        (
            "nginx patch tag",
            "nginx:1.27.3",
            ok("docker.io/library/nginx:1.27.3"),
        ),
        (
            "nginx alpine",
            "nginx:alpine",
            ok("docker.io/library/nginx:alpine"),
        ),
        (
            "nginx stable and mainline",
            "nginx:mainline",
            ok("docker.io/library/nginx:mainline"),
        ),
        (
            "busybox 1.36",
            "busybox:1.36",
            ok("docker.io/library/busybox:1.36"),
        ),
        (
            "agnhost",
            "registry.k8s.io/e2e-test-images/agnhost:2.40",
            ok("registry.k8s.io/e2e-test-images/agnhost:2.40"),
        ),
        (
            "ecr public nginx",
            "public.ecr.aws/nginx/nginx:1.27",
            ok("public.ecr.aws/nginx/nginx:1.27"),
        ),
        (
            "amazonlinux",
            "public.ecr.aws/amazonlinux/amazonlinux:2023",
            ok("public.ecr.aws/amazonlinux/amazonlinux:2023"),
        ),
        ("known digest", &with_digest, ok("")),
        (
            "unknown tag of a known repository",
            "nginx:doesnotexist",
            err(
                "NotFound",
                "failed to pull and unpack image \"docker.io/library/nginx:doesnotexist\": failed to resolve reference \"docker.io/library/nginx:doesnotexist\": docker.io/library/nginx:doesnotexist: not found",
            ),
        ),
        (
            "unknown Docker Hub repository",
            "foo",
            err(
                "Unknown",
                "failed to pull and unpack image \"docker.io/library/foo:latest\": failed to resolve reference \"docker.io/library/foo:latest\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
            ),
        ),
        (
            "unknown repository on a known registry",
            "registry.k8s.io/nope:1.0",
            err(
                "NotFound",
                "failed to pull and unpack image \"registry.k8s.io/nope:1.0\": failed to resolve reference \"registry.k8s.io/nope:1.0\": registry.k8s.io/nope:1.0: not found",
            ),
        ),
        (
            "unknown registry host",
            "my.registry.example/team/app:v1",
            err(
                "Unknown",
                "failed to pull and unpack image \"my.registry.example/team/app:v1\": failed to resolve reference \"my.registry.example/team/app:v1\": failed to do request: Head \"https://my.registry.example/v2/team/app/manifests/v1\": dial tcp: lookup my.registry.example on 192.168.0.2:53: no such host",
            ),
        ),
        (
            "unknown digest",
            &unknown_digest,
            err(
                "NotFound",
                &format!(
                    "failed to pull and unpack image \"docker.io/library/nginx@sha256:{0}\": failed to resolve reference \"docker.io/library/nginx@sha256:{0}\": docker.io/library/nginx@sha256:{0}: not found",
                    "1".repeat(64)
                ),
            ),
        ),
        (
            "invalid name",
            "Nginx",
            err(
                "InvalidImageName",
                "Failed to apply default image tag \"Nginx\": couldn't parse image name \"Nginx\": invalid reference format: repository name (library/Nginx) must be lowercase",
            ),
        ),
    ];
    for (name, image, want) in cases {
        let got = catalog.resolve(image);
        match (&got, &want) {
            (Ok(info), Ok(reference)) => {
                if !reference.is_empty() {
                    assert_eq!(info.reference, *reference, "case {name}");
                }
                assert!(
                    info.digest.starts_with("sha256:") && info.digest.len() == 71,
                    "case {name}"
                );
                assert!(info.size_bytes > 0, "case {name}");
                assert!(
                    info.pull_duration >= Duration::from_millis(300),
                    "case {name}"
                );
            }
            (Err(e), Err((code, message))) => {
                assert_eq!(e.code, *code, "case {name}");
                assert_eq!(&e.message, message, "case {name}");
            }
            _ => panic!("case {name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn digests_are_deterministic_and_pulls_scale_with_size() {
    let c = Catalog::builtin();
    let a = c.resolve("nginx:1.27").expect("nginx");
    let b = c.resolve("docker.io/library/nginx:1.27").expect("nginx");
    assert_eq!(a.digest, b.digest, "same reference, same digest");
    assert_ne!(
        a.digest,
        c.resolve("nginx:1.28").expect("nginx").digest,
        "tags differ"
    );
    let by_digest = c
        .resolve(&format!("nginx@{}", a.digest))
        .expect("known digest");
    assert_eq!(by_digest.digest, a.digest);
    let small = c.resolve("busybox").expect("busybox");
    let big = c.resolve("python:3.12").expect("python");
    assert!(
        small.pull_duration < big.pull_duration,
        "bigger images pull longer"
    );
    assert!(
        big.pull_duration >= Duration::from_secs(8),
        "400 MB at ~50 MB/s"
    );
}

#[test]
fn the_builtin_catalog_holds_the_images_tutorials_use() {
    let embedded: catalog::CatalogFile =
        serde_saphyr::from_str(BUILTIN_YAML).expect("the embedded catalog parses");
    assert!(embedded.images.len() > 20);
    let mut fresh = Catalog::default();
    fresh
        .extend_from_yaml(BUILTIN_YAML)
        .expect("the embedded catalog compiles");
    let images = [
        "nginx:1.25",
        "nginx:1.26",
        "nginx:1.27",
        "nginx:1.27.3",
        "nginx:1.28",
        "nginx:1.29",
        "nginx:latest",
        "nginx:alpine",
        "nginx:stable",
        "nginx:mainline",
        "busybox:1.36",
        "busybox:1.37",
        "busybox:latest",
        "busybox:stable",
        "alpine",
        "alpine:3.20",
        "ubuntu",
        "ubuntu:22.04",
        "debian:bookworm",
        "redis",
        "redis:7",
        "postgres",
        "postgres:16",
        "mysql:8.0",
        "httpd",
        "httpd:2.4",
        "python:3.12",
        "node:20",
        "golang:1.23",
        "curlimages/curl",
        "hashicorp/http-echo",
        "polinux/stress",
        "registry.k8s.io/pause:3.9",
        "registry.k8s.io/e2e-test-images/agnhost:2.40",
        "registry.k8s.io/liveness",
        "k8s.gcr.io/liveness",
        "k8s.gcr.io/busybox",
        "public.ecr.aws/nginx/nginx",
        "public.ecr.aws/amazonlinux/amazonlinux:2023",
        "amazon/aws-cli",
    ];
    for image in images {
        assert!(
            fresh.resolve(image).is_ok(),
            "image {image} is in the catalog"
        );
    }
}

#[test]
fn users_extend_the_catalog_with_yaml() {
    let mut c = Catalog::builtin();
    let yaml = r#"
images:
  - repository: example.com/team/api
    size: 25MB
    tags: ["v1", {names: ["v2"], size: 30MB}]
    entrypoint: [/api]
    userland: none
    programs:
      /api:
        memory: 20Mi
        listen: [{port: 8080, http: {/healthz: 200}}]
        logs: ["api listening on :8080"]
"#;
    c.extend_from_yaml(yaml).expect("valid document");
    let v1 = c.resolve("example.com/team/api:v1").expect("v1");
    assert_eq!(v1.size_bytes, 25_000_000);
    assert_eq!(
        c.resolve("example.com/team/api:v2").expect("v2").size_bytes,
        30_000_000
    );
    assert_eq!(
        c.resolve("example.com/team/api:v3").map_err(|e| e.code),
        Err("NotFound".to_string()),
        "unknown tag of a user repository"
    );
    let mut p = Process::start(&v1, &Launch::default()).expect("starts");
    assert_eq!(
        transcript(&mut p, 5),
        [
            "0.000s memory 20971520",
            "0.000s out \"api listening on :8080\"",
            "0.000s forever"
        ]
    );
    assert_eq!(
        p.http_get(8080, "/healthz", Duration::from_secs(1)),
        HttpAnswer::Status(200)
    );
    assert_eq!(
        p.http_get(8080, "/other", Duration::from_secs(1)),
        HttpAnswer::Status(404)
    );
    assert_eq!(
        p.http_get(9090, "/", Duration::from_secs(1)),
        HttpAnswer::Refused
    );

    // Periodic lines, a timed exit and time-dependent answers.
    let yaml = r#"
images:
  - repository: example.com/team/worker
    size: 10MB
    tags: [v1]
    userland: none
    entrypoint: [/worker]
    programs:
      /worker:
        logs: [{line: "warming up", stderr: true}, {line: "started", after: 2s}]
        every: {interval: 10s, logs: ["heartbeat {time:%H:%M:%S}"]}
        exit: {after: 35s, code: 4}
        listen:
          - port: 9000
            http:
              /ready: [{until: 5s, status: 503}, {status: 200}]
        onTerm: {after: 3s, code: 0}
"#;
    c.extend_from_yaml(yaml).expect("valid document");
    let info = c.resolve("example.com/team/worker:v1").expect("worker");
    let mut p = Process::start(&info, &Launch::default())
        .expect("starts")
        .with_clock(api::clock::Clock::REAL_TIME, epoch());
    assert_eq!(
        transcript(&mut p, 10),
        [
            "0.000s err \"warming up\"",
            "2.000s out \"started\"",
            "12.000s out \"heartbeat 00:00:12\"",
            "22.000s out \"heartbeat 00:00:22\"",
            "32.000s out \"heartbeat 00:00:32\"",
            "35.000s exit 4",
        ]
    );
    let answers: Vec<HttpAnswer> = [1, 5, 6, 40]
        .iter()
        .map(|s| p.http_get(9000, "/ready", Duration::from_secs(*s)))
        .collect();
    let want = [
        HttpAnswer::Status(503),
        HttpAnswer::Status(503),
        HttpAnswer::Status(200),
        HttpAnswer::Refused,
    ];
    assert_eq!(
        answers, want,
        "503 until 5s, then 200, refused once exited at 35s"
    );

    let bad: &[(&str, &str, &str)] = &[
        ("not yaml", "images: [", "invalid image catalog"),
        (
            "unknown field",
            "images: [{repository: a, size: 1MB, tags: [x], colour: red}]",
            "invalid image catalog",
        ),
        (
            "bad size",
            "images: [{repository: a, size: huge, tags: [x]}]",
            "invalid size",
        ),
        (
            "unknown builtin",
            "images: [{repository: a, size: 1MB, tags: [x], programs: {a: {builtin: b}}}]",
            "unknown builtin",
        ),
        (
            "bad repository",
            "images: [{repository: A, size: 1MB, tags: [x]}]",
            "must be lowercase",
        ),
        (
            "bad tag",
            "images: [{repository: a, size: 1MB, tags: [\"-x\"]}]",
            "invalid reference format",
        ),
    ];
    for (name, yaml, want) in bad {
        let err = Catalog::default().extend_from_yaml(yaml).expect_err(name);
        assert!(err.contains(want), "case {name}: {err}");
    }
}

// ------------------------------------------------------------------------------------
// Processes.

#[test]
fn unknown_executables_fail_the_start_as_runc_does() {
    let cases: &[(&str, &str, L, &str)] = &[
        (
            "unknown command",
            "busybox",
            L::default().cmd(&["foo"]),
            "exec: \"foo\": executable file not found in $PATH",
        ),
        (
            "unknown absolute path",
            "busybox",
            L::default().cmd(&["/app/server"]),
            "exec: \"/app/server\": stat /app/server: no such file or directory",
        ),
        (
            "no shell in pause",
            "registry.k8s.io/pause:3.9",
            L::default().cmd(&["sh", "-c", "echo hi"]),
            "exec: \"sh\": executable file not found in $PATH",
        ),
        (
            "no bash in busybox",
            "busybox",
            L::default().cmd(&["bash", "-c", "echo hi"]),
            "exec: \"bash\": executable file not found in $PATH",
        ),
    ];
    for (name, image, launch, want) in cases {
        let err = start(image, launch).expect_err(name);
        assert_eq!(err.exit_code, 128, "case {name}");
        assert_eq!(
            err.message,
            format!(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: {want}: unknown"
            ),
            "case {name}"
        );
    }
}

/// (name, image, launch, events to take, expected transcript)
type ScriptCase = (&'static str, &'static str, L, usize, Vec<&'static str>);

fn script_cases() -> Vec<ScriptCase> {
    vec![
        (
            "echo hello then sleep (docs)",
            "busybox",
            L::default().cmd(&["sh", "-c", "echo hello; sleep 3600"]),
            5,
            vec!["0.000s out \"hello\"", "3600.000s exit 0"],
        ),
        (
            "exit 1 crash",
            "busybox",
            L::default().cmd(&["sh", "-c", "echo starting; sleep 5; exit 1"]),
            5,
            vec!["0.000s out \"starting\"", "5.000s exit 1"],
        ),
        (
            "date loop (docs counter)",
            "busybox",
            L::default().args(&["/bin/sh", "-c", "while true; do echo $(date); sleep 5; done"]),
            3,
            vec![
                "0.000s out \"Thu Jan 1 00:00:00 UTC 2026\"",
                "5.000s out \"Thu Jan 1 00:00:05 UTC 2026\"",
                "10.000s out \"Thu Jan 1 00:00:10 UTC 2026\"",
            ],
        ),
        (
            "counter with arithmetic",
            "busybox",
            L::default().cmd(&["sh", "-c", "i=0; while true; do echo \"$i: $(date +%s)\"; i=$((i+1)); sleep 1; done"]),
            3,
            vec!["0.000s out \"0: 1767225600\"", "1.000s out \"1: 1767225601\"", "2.000s out \"2: 1767225602\""],
        ),
        (
            "for loop",
            "busybox",
            L::default().cmd(&["sh", "-c", "for i in 1 2 3; do echo item $i; done; echo done"]),
            10,
            vec!["0.000s out \"item 1\"", "0.000s out \"item 2\"", "0.000s out \"item 3\"", "0.000s out \"done\"", "0.000s exit 0"],
        ),
        (
            "default busybox sh exits at once",
            "busybox",
            L::default(),
            3,
            vec!["0.000s exit 0"],
        ),
        (
            "direct sleep",
            "busybox",
            L::default().cmd(&["sleep", "3600"]),
            3,
            vec!["3600.000s exit 0"],
        ),
        (
            "sleep infinity",
            "busybox",
            L::default().cmd(&["/bin/sleep", "infinity"]),
            3,
            vec!["0.000s forever"],
        ),
        (
            "sleep suffixes",
            "busybox",
            L::default().cmd(&["sh", "-c", "sleep 1m; echo a; sleep 0.5; echo b; sleep 2s; exit 3"]),
            5,
            vec!["60.000s out \"a\"", "60.500s out \"b\"", "62.500s exit 3"],
        ),
        (
            "echo direct",
            "busybox",
            L::default().cmd(&["echo", "hello", "world"]),
            3,
            vec!["0.000s out \"hello world\"", "0.000s exit 0"],
        ),
        ("false", "busybox", L::default().cmd(&["false"]), 3, vec!["0.000s exit 1"]),
        ("true", "busybox", L::default().cmd(&["true"]), 3, vec!["0.000s exit 0"]),
        (
            "kubelet expands $(VAR) in args (docs)",
            "debian",
            L::default().cmd(&["/bin/echo"]).args(&["$(MESSAGE)", "$$(MESSAGE)", "$(UNSET)"]).env("MESSAGE", "hello world"),
            3,
            vec!["0.000s out \"hello world $(MESSAGE) $(UNSET)\"", "0.000s exit 0"],
        ),
        (
            "env vars and quoting",
            "busybox",
            L::default()
                .cmd(&["sh", "-c", "echo \"$GREETING, ${NAME}!\" '$NAME' \"a  b\" a  b; echo ${MISSING:-fallback}"])
                .env("GREETING", "Hello")
                .env("NAME", "Kubernetes"),
            5,
            vec!["0.000s out \"Hello, Kubernetes! $NAME a  b a b\"", "0.000s out \"fallback\"", "0.000s exit 0"],
        ),
        (
            "unknown command in a script (busybox)",
            "busybox",
            L::default().cmd(&["sh", "-c", "foo --bar; echo status $?"]),
            5,
            vec!["0.000s err \"sh: foo: not found\"", "0.000s out \"status 127\"", "0.000s exit 0"],
        ),
        (
            "unknown command in a script (dash)",
            "ubuntu",
            L::default().cmd(&["sh", "-c", "foo"]),
            5,
            vec!["0.000s err \"sh: 1: foo: not found\"", "0.000s exit 127"],
        ),
        (
            "unknown command in a script (bash)",
            "ubuntu",
            L::default().cmd(&["bash", "-c", "foo"]),
            5,
            vec!["0.000s err \"bash: line 1: foo: command not found\"", "0.000s exit 127"],
        ),
        (
            "cat of a missing file (busybox)",
            "busybox",
            L::default().cmd(&["cat", "/x"]),
            3,
            vec!["0.000s err \"cat: can't open '/x': No such file or directory\"", "0.000s exit 1"],
        ),
        (
            "cat of a missing file (coreutils)",
            "debian",
            L::default().cmd(&["cat", "/x"]),
            3,
            vec!["0.000s err \"cat: /x: No such file or directory\"", "0.000s exit 1"],
        ),
        (
            "files, redirects and tests",
            "busybox",
            L::default().cmd(&["sh", "-c", "mkdir -p /data/a && echo one > /data/a/f && echo two >> /data/a/f; cat /data/a/f; [ -f /data/a/f ] && echo yes || echo no; test -f /nope || echo missing; rm -f /data/a/f; cat /data/a/f"]),
            10,
            vec![
                "0.000s out \"one\"",
                "0.000s out \"two\"",
                "0.000s out \"yes\"",
                "0.000s out \"missing\"",
                "0.000s err \"cat: can't open '/data/a/f': No such file or directory\"",
                "0.000s exit 1",
            ],
        ),
        (
            "printf and echo -n",
            "busybox",
            L::default().cmd(&["sh", "-c", "printf '%s=%d\\n' a 1 b 2; echo -n par; echo tial"]),
            5,
            vec!["0.000s out \"a=1\"", "0.000s out \"b=2\"", "0.000s out \"partial\"", "0.000s exit 0"],
        ),
        (
            "set -e stops at the first failure",
            "debian",
            L::default().cmd(&["/bin/bash", "-ec", "echo a; false; echo b"]),
            5,
            vec!["0.000s out \"a\"", "0.000s exit 1"],
        ),
        (
            "stderr redirect and /dev/null",
            "busybox",
            L::default().cmd(&["sh", "-c", "echo to-err >&2; cat /nope 2>/dev/null || echo quiet; echo log > /proc/1/fd/1"]),
            5,
            vec!["0.000s err \"to-err\"", "0.000s out \"quiet\"", "0.000s out \"log\"", "0.000s exit 0"],
        ),
        (
            "init container until nslookup",
            "busybox:1.28",
            L::default(),
            0,
            vec![],
        ),
        (
            "if elif else",
            "busybox",
            L::default().cmd(&["sh", "-c", "X=2; if [ $X -eq 1 ]; then echo one; elif [ $X -eq 2 ]; then echo two; else echo other; fi"]),
            3,
            vec!["0.000s out \"two\"", "0.000s exit 0"],
        ),
        (
            "syntax error",
            "busybox",
            L::default().cmd(&["sh", "-c", "if true; then echo x"]),
            3,
            vec!["0.000s err \"sh: syntax error: unexpected end of file\"", "0.000s exit 2"],
        ),
        (
            "unsupported case statement is said",
            "busybox",
            L::default().cmd(&["sh", "-c", "case $x in a) echo a;; esac"]),
            3,
            vec!["0.000s err \"sh: skiff does not simulate case statements (script not run)\"", "0.000s exit 2"],
        ),
        (
            "postgres without a password",
            "postgres:16",
            L::default(),
            12,
            vec![
                "0.000s err \"Error: Database is uninitialized and superuser password is not specified.\"",
                "0.000s err \"       You must specify POSTGRES_PASSWORD to a non-empty value for the\"",
                "0.000s err \"       superuser. For example, \\\"-e POSTGRES_PASSWORD=password\\\" on \\\"docker run\\\".\"",
                "0.000s err \"\"",
                "0.000s err \"       You may also use \\\"POSTGRES_HOST_AUTH_METHOD=trust\\\" to allow all\"",
                "0.000s err \"       connections without a password. This is *not* recommended.\"",
                "0.000s err \"\"",
                "0.000s err \"       See PostgreSQL documentation about \\\"trust\\\":\"",
                "0.000s err \"       https://www.postgresql.org/docs/current/auth-trust.html\"",
                "0.000s exit 1",
            ],
        ),
        (
            "nginx with an unknown command via its entrypoint (dash)",
            "nginx",
            L::default().args(&["foo"]),
            3,
            vec!["0.000s err \"/docker-entrypoint.sh: 47: exec: foo: not found\"", "0.000s exit 127"],
        ),
        (
            "nginx alpine with an unknown command via its entrypoint (ash)",
            "nginx:alpine",
            L::default().args(&["npm", "start"]),
            3,
            vec!["0.000s err \"/docker-entrypoint.sh: exec: line 47: npm: not found\"", "0.000s exit 127"],
        ),
        (
            "stress within its limit keeps running",
            "polinux/stress",
            L::default().cmd(&["stress"]).args(&["--vm", "1", "--vm-bytes", "150M", "--vm-hang", "1"]),
            5,
            vec![
                "0.000s out \"stress: info: [1] dispatching hogs: 0 cpu, 0 io, 1 vm, 0 hdd\"",
                "0.200s memory 158334976",
                "0.200s forever",
            ],
        ),
        (
            "stress with a timeout",
            "polinux/stress",
            L::default().cmd(&["stress", "--cpu", "2", "--timeout", "10s"]),
            5,
            vec![
                "0.000s out \"stress: info: [1] dispatching hogs: 2 cpu, 0 io, 0 vm, 0 hdd\"",
                "10.000s out \"stress: info: [1] successful run completed in 10s\"",
                "10.000s exit 0",
            ],
        ),
        (
            "python http.server (unbuffered)",
            "python:3.12",
            L::default().cmd(&["python", "-u", "-m", "http.server", "8000"]),
            5,
            vec!["0.000s memory 12582912", "0.000s out \"Serving HTTP on 0.0.0.0 port 8000 (http://0.0.0.0:8000/) ...\"", "0.000s forever"],
        ),
        (
            "python one-liner",
            "python:3.12-slim",
            L::default().cmd(&["python", "-c", "import time; print('hi'); time.sleep(2); print(\"bye\")"]),
            5,
            vec!["0.000s out \"hi\"", "2.000s out \"bye\"", "2.000s exit 0"],
        ),
        (
            "script written then run",
            "busybox",
            L::default().cmd(&["sh", "-c", "echo 'echo from script $1' > /s.sh; sh /s.sh arg"]),
            3,
            vec!["0.000s out \"from script arg\"", "0.000s exit 0"],
        ),
        (
            "pipes",
            "busybox",
            L::default().cmd(&["sh", "-c", "printf 'a\\nb\\nc\\n' | grep b | wc -l"]),
            3,
            vec!["0.000s out \"1\"", "0.000s exit 0"],
        ),
        (
            "break and continue",
            "busybox",
            L::default().cmd(&["sh", "-c", "i=0; while true; do i=$((i+1)); [ $i -eq 2 ] && continue; [ $i -gt 3 ] && break; echo $i; done; for x in a b c; do [ $x = c ] && break; echo $x; done; echo end"]),
            10,
            vec!["0.000s out \"1\"", "0.000s out \"3\"", "0.000s out \"a\"", "0.000s out \"b\"", "0.000s out \"end\"", "0.000s exit 0"],
        ),
        (
            "quoted $@ keeps the arguments apart",
            "busybox",
            L::default().cmd(&["sh", "-c", "for a in \"$@\"; do echo \"[$a]\"; done; exec \"$@\"", "entry", "sleep", "2 s"]),
            5,
            vec!["0.000s out \"[sleep]\"", "0.000s out \"[2 s]\"", "0.000s err \"sleep: invalid number '2 s'\"", "0.000s exit 1"],
        ),
        (
            "apk add then curl",
            "alpine",
            L::default().cmd(&["sh", "-c", "curl -s http://web || echo no curl; apk add --no-cache curl && curl -s http://web && echo fetched"]),
            12,
            vec![
                "0.000s err \"sh: curl: not found\"",
                "0.000s out \"no curl\"",
                "0.000s out \"fetch https://dl-cdn.alpinelinux.org/alpine/v3.21/main/x86_64/APKINDEX.tar.gz\"",
                "0.000s out \"fetch https://dl-cdn.alpinelinux.org/alpine/v3.21/community/x86_64/APKINDEX.tar.gz\"",
                "2.000s out \"(1/1) Installing curl\"",
                "2.000s out \"OK: 10 MiB in 16 packages\"",
                "2.000s out \"fetched\"",
                "2.000s exit 0",
            ],
        ),
        (
            "apt-get install without -y aborts",
            "debian",
            L::default().cmd(&["bash", "-c", "apt-get install curl"]),
            12,
            vec![
                "0.000s out \"Reading package lists...\"",
                "0.000s out \"Building dependency tree...\"",
                "0.000s out \"Reading state information...\"",
                "0.000s out \"The following NEW packages will be installed:\"",
                "0.000s out \"  curl\"",
                "0.000s out \"Do you want to continue? [Y/n] Abort.\"",
                "0.000s exit 1",
            ],
        ),
        (
            "here-documents write files",
            "busybox",
            L::default().cmd(&["sh", "-c", "mkdir -p /etc/app\ncat <<EOF > /etc/app/conf\nname=$NAME\nliteral='x'\nEOF\ncat <<'END'\n$NAME stays\nEND\ncat /etc/app/conf"]).env("NAME", "web"),
            10,
            vec!["0.000s out \"$NAME stays\"", "0.000s out \"name=web\"", "0.000s out \"literal='x'\"", "0.000s exit 0"],
        ),
        (
            "a server in the background",
            "python:3.12",
            L::default().cmd(&["sh", "-c", "python3 -m http.server 8080 & echo started; sleep 5"]),
            5,
            vec!["0.000s memory 12582912", "0.000s out \"started\"", "5.000s exit 0"],
        ),
        (
            "exec of a known binary",
            "busybox",
            L::default().cmd(&["sh", "-c", "echo before; exec sleep 10; echo never"]),
            3,
            vec!["0.000s out \"before\"", "10.000s exit 0"],
        ),
    ]
}

#[test]
fn scripts_run_as_a_shell_would() {
    for (name, image, launch, n, want) in script_cases() {
        if want.is_empty() {
            continue;
        }
        let mut p = start(image, &launch).unwrap_or_else(|e| panic!("case {name}: {e}"));
        let got = transcript(&mut p, n);
        let got = got
            .iter()
            .filter(|l| !l.ends_with("memory 1048576"))
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(got, want, "case {name}");
    }
}

#[test]
fn init_container_waiting_on_dns_finishes_at_once() {
    // The docs' init container: `until nslookup myservice...; do echo waiting; sleep 2; done`.
    // In-container DNS is not simulated: the lookup succeeds at once.
    let launch = L::default().cmd(&[
        "sh",
        "-c",
        "until nslookup myservice.$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace 2>/dev/null).svc.cluster.local; do echo waiting for myservice; sleep 2; done",
    ]);
    let mut p = start("busybox:1.28", &launch).expect("starts");
    assert_eq!(transcript(&mut p, 3), ["0.000s exit 0"]);
}

#[test]
fn infinite_loops_are_lazy() {
    let mut p = start(
        "busybox",
        &L::default().cmd(&["sh", "-c", "while true; do echo tick; done"]),
    )
    .expect("starts");
    for i in 0..5_000 {
        match p.next() {
            Some((_, ProcessEvent::Log { line, .. })) => assert_eq!(line, "tick", "event {i}"),
            other => panic!("event {i}: {other:?}"),
        }
    }
    // A loop that neither prints nor sleeps spins, then counts as running silently.
    let mut p = start(
        "busybox",
        &L::default().cmd(&["sh", "-c", "while :; do :; done"]),
    )
    .expect("starts");
    assert_eq!(p.next(), None);
}

#[test]
fn the_liveness_exec_example_fails_its_probe_after_30_seconds() {
    let launch = L::default().args(&[
        "/bin/sh",
        "-c",
        "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600",
    ]);
    let mut p = start("registry.k8s.io/busybox", &launch).expect("starts");
    let probe = s(&["cat", "/tmp/healthy"]);
    // Before anything ran, the file does not exist yet.
    let first = p.next().expect("an event at the rm");
    assert_eq!(
        first,
        (Duration::from_secs(30), ProcessEvent::Memory(1 << 20)),
        "a wake-up at the rm"
    );
    // While the runtime sleeps towards the rm, the file is still there.
    assert_eq!(
        p.exec(&probe),
        ExecResult {
            exit_code: 0,
            output: String::new()
        }
    );
    let second = p.next().expect("the exit");
    assert_eq!(second, (Duration::from_secs(600), ProcessEvent::Exit(0)));
    assert_eq!(
        p.exec(&probe),
        ExecResult {
            exit_code: 1,
            output: "cat: can't open '/tmp/healthy': No such file or directory\n".into()
        }
    );
    assert_eq!(
        p.on_term(),
        OnTerm::Ignores,
        "a shell as PID 1 ignores SIGTERM"
    );
}

#[test]
fn exec_commands_see_and_change_the_file_system() {
    let mut p = start(
        "busybox",
        &L::default().cmd(&["sh", "-c", "echo ready > /tmp/state; sleep 3600"]),
    )
    .expect("starts");
    assert_eq!(
        p.next(),
        Some((Duration::from_secs(3600), ProcessEvent::Exit(0)))
    );
    let cases: &[(&str, &[&str], i32, &str)] = &[
        ("cat the state", &["cat", "/tmp/state"], 0, "ready\n"),
        (
            "shell form",
            &["sh", "-c", "test -f /tmp/state && echo ok"],
            0,
            "ok\n",
        ),
        ("write a file", &["sh", "-c", "echo x > /tmp/new"], 0, ""),
        ("read it back", &["cat", "/tmp/new"], 0, "x\n"),
        ("failing shell", &["/bin/sh", "-c", "exit 3"], 3, ""),
        (
            "unknown in shell",
            &["sh", "-c", "nope"],
            127,
            "sh: nope: not found\n",
        ),
        (
            "busybox has no redis-cli",
            &["redis-cli", "ping"],
            126,
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"redis-cli\": executable file not found in $PATH: unknown",
        ),
        (
            "unknown binary",
            &["nope"],
            126,
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown",
        ),
    ];
    for (name, cmd, code, output) in cases {
        let r = p.exec(&s(cmd));
        assert_eq!(
            (r.exit_code, r.output.as_str()),
            (*code, *output),
            "case {name}"
        );
    }
}

#[test]
fn stress_exceeds_a_100mi_limit_shortly_after_start() {
    // The docs' memory example: --vm-bytes 250M under a 100Mi limit is OOM-killed.
    let launch =
        L::default()
            .cmd(&["stress"])
            .args(&["--vm", "1", "--vm-bytes", "250M", "--vm-hang", "1"]);
    let mut p = start("polinux/stress", &launch).expect("starts");
    let limit = 100 * 1024 * 1024;
    let mut at = Duration::ZERO;
    let mut exceeded = None;
    while let Some((d, e)) = p.next() {
        at += d;
        if let ProcessEvent::Memory(m) = e
            && m > limit
        {
            exceeded = Some((at, m));
            break;
        }
    }
    assert_eq!(
        exceeded,
        Some((Duration::from_millis(200), 250 * 1024 * 1024 + (1 << 20)))
    );
    assert_eq!(
        p.memory_bytes(),
        1 << 20,
        "visible once the runtime reaches the event"
    );
    p.next();
    assert_eq!(p.memory_bytes(), 250 * 1024 * 1024 + (1 << 20));
    assert_eq!(p.on_term(), OnTerm::Ignores);
}

#[test]
fn agnhost_liveness_answers_200_then_500() {
    for image in [
        "registry.k8s.io/e2e-test-images/agnhost:2.40",
        "registry.k8s.io/liveness",
    ] {
        let launch = if image.contains("agnhost") {
            L::default().args(&["liveness"])
        } else {
            L::default().args(&["/server"])
        };
        let mut p = start(image, &launch).expect("starts");
        assert_eq!(
            p.next(),
            Some((
                Duration::ZERO,
                ProcessEvent::Memory(if image.contains("agnhost") {
                    6 << 20
                } else {
                    5 << 20
                })
            ))
        );
        let cases: &[(&str, u16, &str, u64, HttpAnswer)] = &[
            (
                "healthz at 3s",
                8080,
                "/healthz",
                3,
                HttpAnswer::Status(200),
            ),
            (
                "healthz at 10s",
                8080,
                "/healthz",
                10,
                HttpAnswer::Status(200),
            ),
            (
                "healthz at 11s",
                8080,
                "/healthz",
                11,
                HttpAnswer::Status(500),
            ),
            (
                "healthz at 60s",
                8080,
                "/healthz",
                60,
                HttpAnswer::Status(500),
            ),
            (
                "query string ignored",
                8080,
                "/healthz?x=1",
                3,
                HttpAnswer::Status(200),
            ),
            ("other path", 8080, "/nope", 3, HttpAnswer::Status(404)),
            ("other port", 80, "/healthz", 3, HttpAnswer::Refused),
        ];
        for (name, port, path, secs, want) in cases {
            assert_eq!(
                &p.http_get(*port, path, Duration::from_secs(*secs)),
                want,
                "{image}: case {name}"
            );
        }
        assert_eq!(p.next(), None, "{image}: runs silently");
        assert!(p.tcp_open(8080), "{image}");
        assert_eq!(
            p.on_term(),
            OnTerm::Exits(Duration::ZERO, 2),
            "{image}: Go exits 2 on SIGTERM as PID 1"
        );
    }
}

#[test]
fn servers_listen_and_answer() {
    let cases: &[(&str, &str, L, u16, &str, HttpAnswer)] = &[
        (
            "nginx",
            "nginx:1.27",
            L::default(),
            80,
            "/",
            HttpAnswer::Status(200),
        ),
        (
            "nginx direct",
            "nginx",
            L::default().cmd(&["nginx", "-g", "daemon off;"]),
            80,
            "/",
            HttpAnswer::Status(200),
        ),
        (
            "nginx 404",
            "nginx:alpine",
            L::default(),
            80,
            "/missing",
            HttpAnswer::Status(404),
        ),
        (
            "netexec",
            "registry.k8s.io/e2e-test-images/agnhost:2.40",
            L::default().args(&["netexec", "--http-port=8081"]),
            8081,
            "/hostname",
            HttpAnswer::Status(200),
        ),
        (
            "http-echo",
            "hashicorp/http-echo",
            L::default().args(&["-text=hello", "-listen=:8080"]),
            8080,
            "/anything",
            HttpAnswer::Status(200),
        ),
        (
            "python http.server",
            "python:3.12",
            L::default().cmd(&["python", "-m", "http.server", "8000"]),
            8000,
            "/",
            HttpAnswer::Status(200),
        ),
        (
            "redis is not HTTP",
            "redis",
            L::default(),
            6379,
            "/",
            HttpAnswer::Refused,
        ),
        (
            "busybox listens nowhere",
            "busybox",
            L::default().cmd(&["sleep", "100"]),
            80,
            "/",
            HttpAnswer::Refused,
        ),
    ];
    for (name, image, launch, port, path, want) in cases {
        let mut p = start(image, launch).unwrap_or_else(|e| panic!("case {name}: {e}"));
        for _ in 0..30 {
            if p.next().is_none() {
                break;
            }
        }
        assert_eq!(
            &p.http_get(*port, path, Duration::from_secs(5)),
            want,
            "case {name}"
        );
    }
    let mut redis = start("redis:7", &L::default()).expect("redis");
    while redis.next().is_some() {}
    let probes: &[(&str, &[&str], i32, &str)] = &[
        ("redis-cli ping", &["redis-cli", "ping"], 0, "PONG\n"),
        (
            "through a shell",
            &["sh", "-c", "redis-cli ping | grep PONG"],
            0,
            "PONG\n",
        ),
    ];
    for (name, cmd, code, out) in probes {
        let r = redis.exec(&s(cmd));
        assert_eq!(
            (r.exit_code, r.output.as_str()),
            (*code, *out),
            "case {name}"
        );
    }
    assert!(redis.tcp_open(6379), "redis accepts TCP");
    assert!(!redis.tcp_open(6380));
}

#[test]
fn sigterm_reactions() {
    let cases: &[(&str, &str, L, OnTerm)] = &[
        (
            "shell script",
            "busybox",
            L::default().cmd(&["sh", "-c", "echo a; sleep 3600"]),
            OnTerm::Ignores,
        ),
        (
            "sleep as PID 1",
            "busybox",
            L::default().cmd(&["sleep", "3600"]),
            OnTerm::Ignores,
        ),
        (
            "sh -c single command execs it",
            "nginx",
            L::default().cmd(&["sh", "-c", "nginx -g 'daemon off;'"]),
            OnTerm::Exits(Duration::from_millis(50), 0),
        ),
        (
            "nginx",
            "nginx",
            L::default(),
            OnTerm::Exits(Duration::from_millis(50), 0),
        ),
        (
            "exec from a script",
            "redis",
            L::default().cmd(&["sh", "-c", "echo start; exec redis-server"]),
            OnTerm::Exits(Duration::from_millis(100), 0),
        ),
        (
            "pause",
            "registry.k8s.io/pause:3.9",
            L::default(),
            OnTerm::Exits(Duration::ZERO, 0),
        ),
        (
            "python",
            "python:3.12",
            L::default().cmd(&["python", "-m", "http.server"]),
            OnTerm::Ignores,
        ),
        (
            "trap exits after the foreground sleep",
            "busybox",
            L::default().cmd(&[
                "sh",
                "-c",
                "trap 'echo bye; exit 0' TERM; while true; do sleep 1; done",
            ]),
            OnTerm::Exits(Duration::from_secs(1), 0),
        ),
        (
            "trap waits for a long sleep",
            "busybox",
            L::default().cmd(&["sh", "-c", "trap 'exit 3' SIGTERM; sleep 3600"]),
            OnTerm::Exits(Duration::from_secs(3600), 3),
        ),
        (
            "trap without exit",
            "busybox",
            L::default().cmd(&["sh", "-c", "trap 'echo got it' TERM; sleep 3600"]),
            OnTerm::Ignores,
        ),
        (
            "override ignore",
            "nginx",
            L::default().ann("sim.skiff.dev/on-term", "ignore"),
            OnTerm::Ignores,
        ),
        (
            "override delay",
            "busybox",
            L::default().cmd(&["sleep", "100"]).ann("on-term", "5s,143"),
            OnTerm::Exits(Duration::from_secs(5), 143),
        ),
    ];
    for (name, image, launch, want) in cases {
        let mut p = start(image, launch).unwrap_or_else(|e| panic!("case {name}: {e}"));
        // Drive to the first moment time passes (the runtime waits there for the event).
        for _ in 0..20 {
            match p.next() {
                Some((d, _)) if d.is_zero() => {}
                _ => break,
            }
        }
        assert_eq!(p.on_term(), *want, "case {name}");
    }
}

#[test]
fn pod_overrides_change_the_behaviour() {
    let cases: &[(&str, &str, L, Vec<&str>)] = &[
        (
            "exit-after with code",
            "nginx",
            L::default()
                .ann("sim.skiff.dev/exit-after", "30s")
                .ann("sim.skiff.dev/exit-code", "3"),
            vec!["30.000s exit 3"],
        ),
        (
            "exit-code replaces a natural exit",
            "busybox",
            L::default()
                .cmd(&["sh", "-c", "sleep 2"])
                .ann("sim.skiff.dev/exit-code", "9"),
            vec!["2.000s exit 9"],
        ),
        (
            "exit-after cuts a loop",
            "busybox",
            L::default()
                .cmd(&["sh", "-c", "while true; do sleep 10; echo x; done"])
                .ann("sim.skiff.dev/exit-after", "25s"),
            vec!["10.000s out \"x\"", "20.000s out \"x\"", "25.000s exit 0"],
        ),
        (
            "memory from the start",
            "busybox",
            L::default()
                .cmd(&["sleep", "5"])
                .ann("sim.skiff.dev/memory", "300Mi"),
            vec!["0.000s memory 314572800", "5.000s exit 0"],
        ),
    ];
    for (name, image, launch, want) in cases {
        let mut p = start(image, launch).unwrap_or_else(|e| panic!("case {name}: {e}"));
        let got: Vec<String> = transcript(&mut p, 40)
            .into_iter()
            .filter(|l| {
                !l.contains(" out \"/docker-entrypoint")
                    && !l.contains(" out \"10-listen")
                    && !l.contains(" err ")
                    && !l.contains("memory 8388608")
            })
            .collect();
        assert_eq!(got, *want, "case {name}");
    }
    // ready-after: ports refuse until then, and the runtime is woken up at that moment.
    let mut p = start(
        "nginx",
        &L::default().ann("sim.skiff.dev/ready-after", "20s"),
    )
    .expect("starts");
    let mut at = Duration::ZERO;
    while let Some((d, _)) = p.next() {
        at += d;
        if at >= Duration::from_secs(20) {
            break;
        }
    }
    assert_eq!(at, Duration::from_secs(20), "a wake-up at ready-after");
    assert_eq!(
        p.http_get(80, "/", Duration::from_secs(5)),
        HttpAnswer::Refused
    );
    assert_eq!(
        p.http_get(80, "/", Duration::from_secs(21)),
        HttpAnswer::Status(200)
    );
    p.next();
    assert!(p.tcp_open(80));

    let bad: &[(&str, &str, &str)] = &[
        ("bad duration", "sim.skiff.dev/exit-after", "soon"),
        ("bad size", "sim.skiff.dev/memory", "lots"),
        ("bad code", "sim.skiff.dev/exit-code", "x"),
        ("unknown key", "sim.skiff.dev/colour", "red"),
    ];
    for (name, key, value) in bad {
        let err = start("busybox", &L::default().ann(key, value)).expect_err(name);
        assert!(err.message.contains(key), "case {name}: {}", err.message);
    }
}

#[test]
fn mounted_files_are_seen_from_the_start() {
    let cases: &[(&str, L, Vec<&str>)] = &[
        (
            "cat as the container's process",
            L::default().cmd(&["cat", "/etc/config/game.properties"]),
            vec!["0.000s out \"lives=3\"", "0.000s exit 0"],
        ),
        (
            "a script reading the namespace",
            L::default().cmd(&[
                "sh",
                "-c",
                "echo ns=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)",
            ]),
            vec!["0.000s out \"ns=default\"", "0.000s exit 0"],
        ),
    ];
    for (name, launch, want) in cases {
        let mut p = start("busybox", launch).unwrap_or_else(|e| panic!("case {name}: {e}"));
        p.add_file("/etc/config/game.properties", "lives=3\n".into());
        p.add_file(
            "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
            "default".into(),
        );
        assert_eq!(transcript(&mut p, 5), *want, "case {name}");
    }
}

#[test]
fn odd_input_never_panics() {
    let scripts = [
        "",
        "'",
        "\"",
        "$(",
        "$((",
        "${",
        "`",
        "a >",
        "2>&",
        "&>",
        "((",
        "))",
        "{",
        "}",
        "if",
        "for",
        "for x in",
        "while",
        "! ",
        "a | ",
        "|| a",
        "é$((1+ü))",
        "echo ${x:-$(echo é)}",
        "echo $((1/0))",
        "exit 999999999999",
        "sleep 1e400",
        "sleep -1",
        "printf %",
        "printf '%5.2f %c %x' x",
        "seq 1 100000000 | wc -l",
        "cat <",
        "cat < /nope",
        "echo a > /nope/dir/f",
        "cd /nope",
        "exec",
        "exec nope",
        "set -e; false",
        "read x",
        "shift 5",
        "echo $9 $# $@ $?",
        "mkdir /a/b/c",
        "rm /",
        "ls /nope",
        "tail -n x /nope",
        "env FOO=1 nope",
        "busybox nope",
        "echo \\",
        "x=$(exit 3); echo $?",
        "while true; do break; done",
        "function f { :; }",
        "f() { :; }",
        "cat <<EOF\nx\nEOF",
        "cat <<",
        "cat <<EOF",
        "cat <<-'E'\n\tx\n\tE",
        "x <<A <<B\n1\nA\n2\nB",
        "case x in esac",
        "$(",
        "echo `echo`",
        "[ 1 -lt",
        "test -q x y z w",
        "sleep",
        "sleep abc",
        "echo ${#x}",
    ];
    for script in scripts {
        for image in ["busybox", "ubuntu"] {
            let mut p = start(image, &L::default().cmd(&["sh", "-c", script])).expect("sh exists");
            let events = transcript(&mut p, 200);
            assert!(!events.is_empty(), "script {script:?} on {image}");
            let _ = p.exec(&s(&["sh", "-c", script]));
        }
    }
    for argv in [
        vec!["stress", "--vm-bytes", "x", "--vm", "1"],
        vec!["stress", "--timeout", "zz", "--cpu", "1"],
        vec!["python", "-c", "print("],
        vec!["node", "-e"],
        vec!["python", "-m"],
    ] {
        for image in ["polinux/stress", "python:3.12", "node:20"] {
            if let Ok(mut p) = start(image, &L::default().cmd(&argv)) {
                let _ = transcript(&mut p, 50);
            }
        }
    }
}

#[test]
fn the_job_example_prints_pi() {
    let launch = L::default().cmd(&["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]);
    let mut p = start("perl:5.34.0", &launch).expect("starts");
    let events: Vec<(Duration, ProcessEvent)> = std::iter::from_fn(|| p.next()).collect();
    let line = events
        .iter()
        .find_map(|(_, e)| match e {
            ProcessEvent::Log { line, .. } => Some(line.clone()),
            _ => None,
        })
        .expect("prints pi");
    assert_eq!(line.len(), 2001, "2000 digits and the point");
    assert!(line.starts_with("3.14159265358979323846264338327950288419716939937510"));
    // The last digits, checked against Machin's formula computed independently.
    assert!(
        line.ends_with("72874677646575739624138908658326459958133904780275901"),
        "{}",
        &line[1940..]
    );
    assert_eq!(
        events.last().map(|(_, e)| e.clone()),
        Some(ProcessEvent::Exit(0))
    );
    let cases: &[(&str, usize, &str)] = &[
        ("one", 1, "3"),
        ("five", 5, "31416"),
        ("ten rounds up", 10, "3141592654"),
    ];
    for (name, n, want) in cases {
        let got: String = programs::pi_digits(*n)
            .iter()
            .map(|d| (b'0' + d) as char)
            .collect();
        assert_eq!(got, *want, "case {name}");
    }
}

// ------------------------------------------------------------------------------------
// Golden transcripts.

/// Transcripts of the script cases plus the images' default processes.
fn golden_text() -> String {
    let mut cases: Vec<(String, &str, L, usize)> = script_cases()
        .into_iter()
        .filter(|c| !c.4.is_empty())
        .map(|(name, image, launch, _, _)| (name.to_string(), image, launch, 20))
        .collect();
    for image in [
        "nginx:1.27.3",
        "nginx:alpine",
        "busybox",
        "alpine",
        "ubuntu",
        "debian",
        "redis",
        "postgres",
        "mysql",
        "httpd",
        "python",
        "node",
        "golang",
        "curlimages/curl",
        "hashicorp/http-echo",
        "polinux/stress",
        "registry.k8s.io/pause:3.10",
        "registry.k8s.io/e2e-test-images/agnhost:2.53",
        "registry.k8s.io/liveness",
        "amazon/aws-cli",
        "public.ecr.aws/amazonlinux/amazonlinux",
        "registry.k8s.io/goproxy:0.1",
        "vish/stress",
        "quay.io/fluentd_elasticsearch/fluentd:v2.5.2",
        "gcr.io/google-samples/kubernetes-bootcamp:v1",
        "traefik/whoami",
        "kennethreitz/httpbin",
        "registry.k8s.io/etcd:3.5.1-0",
        "mongo",
    ] {
        cases.push((
            format!("default process of {image}"),
            image,
            L::default(),
            40,
        ));
    }
    cases.push((
        "postgres with a password".into(),
        "postgres:17",
        L::default().env("POSTGRES_PASSWORD", "secret"),
        40,
    ));
    cases.push((
        "mysql without a password".into(),
        "mysql:8.4",
        L::default(),
        40,
    ));
    let mut out = String::new();
    for (name, image, launch, n) in cases {
        out.push_str(&format!("== {name}\nimage: {image}\n"));
        if !launch.0.command.is_empty() {
            out.push_str(&format!("command: {:?}\n", launch.0.command));
        }
        if !launch.0.args.is_empty() {
            out.push_str(&format!("args: {:?}\n", launch.0.args));
        }
        match start(image, &launch) {
            Ok(mut p) => {
                for line in transcript(&mut p, n) {
                    out.push_str(&line);
                    out.push('\n');
                }
                out.push_str(&format!("on SIGTERM: {:?}\n", p.on_term()));
            }
            Err(e) => out.push_str(&format!("start error {}: {}\n", e.exit_code, e.message)),
        }
        out.push('\n');
    }
    out
}

#[test]
fn transcripts_match_the_golden_file() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/testdata/behaviour.golden");
    let got = golden_text();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create testdata");
        std::fs::write(&path, &got).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if got != want {
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(
                g,
                w,
                "first difference at line {} of {}",
                i + 1,
                path.display()
            );
        }
        assert_eq!(
            got.lines().count(),
            want.lines().count(),
            "line counts differ"
        );
    }
}
