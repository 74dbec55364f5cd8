//! Programs whose behaviour depends on their arguments, written as code: `stress`, `agnhost`,
//! `python`, `node`, `http-echo`, `curl`, `aws` and the old liveness test server.

use std::collections::BTreeMap;
use std::time::Duration;

use super::catalog::{Answer, Listener};
use super::machine::{Item, Run};

/// What a Go program does on SIGTERM as PID 1 without its own handler: the runtime's
/// handler re-raises the signal, which PID 1 ignores, and then exits with status 2.
const GO_DEFAULT_TERM: Option<(Duration, i32)> = Some((Duration::ZERO, 2));

fn http(port: u16, paths: &[(&str, Answer)]) -> Listener {
    Listener {
        port,
        http: Some(
            paths
                .iter()
                .map(|(p, a)| (p.to_string(), a.clone()))
                .collect(),
        ),
        other_paths: 404,
    }
}

/// The liveness server of the Kubernetes docs: `/healthz` answers 200 for the first 10
/// seconds, then 500.
fn liveness_listener() -> Listener {
    http(
        8080,
        &[
            (
                "/healthz",
                Answer::Timed(vec![(Some(Duration::from_secs(10)), 200), (None, 500)]),
            ),
            ("/redirect", Answer::Status(302)),
        ],
    )
}

/// A flag's value: `--name=value`, `-name=value`, `--name value` or `-name value`.
fn flag(args: &[String], names: &[&str]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let bare = a.trim_start_matches('-');
        if !a.starts_with('-') {
            continue;
        }
        for n in names {
            if bare == *n {
                return it.next().cloned();
            }
            if let Some(v) = bare.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// A `stress` size: bytes with an optional b/k/m/g suffix (powers of 1024).
fn stress_bytes(s: &str) -> Option<u64> {
    let (num, mult) = match s.chars().last()? {
        'b' | 'B' => (&s[..s.len() - 1], 1),
        'k' | 'K' => (&s[..s.len() - 1], 1 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

fn stress(args: &[String]) -> Run {
    let count = |short: &str, long: &str| {
        flag(args, &[short, long])
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (cpu, io, vm, hdd) = (
        count("c", "cpu"),
        count("i", "io"),
        count("m", "vm"),
        count("d", "hdd"),
    );
    if cpu + io + vm + hdd == 0 {
        return Run::done(1).err("stress: FAIL: [1] (404) must specify at least one worker\n");
    }
    let bytes = match flag(args, &["vm-bytes"]) {
        Some(v) => match stress_bytes(&v) {
            Some(b) => b,
            None => {
                return Run::done(1).err(format!("stress: FAIL: [1] (300) invalid number: {v}\n"));
            }
        },
        None => 256 << 20,
    };
    let mut run = Run::forever();
    run.on_term = None;
    run.queue.push_back(Item::Mem(1 << 20));
    run.queue.push_back(Item::Text(
        format!("stress: info: [1] dispatching hogs: {cpu} cpu, {io} io, {vm} vm, {hdd} hdd\n"),
        false,
    ));
    if vm > 0 {
        // The workers allocate and touch their memory within a moment of starting.
        run.queue.push_back(Item::Wait(Duration::from_millis(200)));
        run.queue
            .push_back(Item::Mem((1 << 20) + vm.saturating_mul(bytes)));
    }
    if let Some(t) = flag(args, &["t", "timeout"]) {
        match super::machine::sleep_duration(&t) {
            Some(Some(d)) => {
                let waited = if vm > 0 {
                    Duration::from_millis(200)
                } else {
                    Duration::ZERO
                };
                run.queue.push_back(Item::Wait(d.saturating_sub(waited)));
                run.queue.push_back(Item::Text(
                    format!(
                        "stress: info: [1] successful run completed in {}s\n",
                        d.as_secs()
                    ),
                    false,
                ));
                run.end = Some(0);
            }
            _ => {
                return Run::done(1).err(format!("stress: FAIL: [1] (300) invalid number: {t}\n"));
            }
        }
    }
    run
}

fn glog(line: &str) -> String {
    format!("I{{time:%m%d %H:%M:%S}}.000000       1 log.go:245] {line}\n")
}

fn agnhost(args: &[String]) -> Run {
    let Some(sub) = args.first() else {
        return Run::done(0).out(
            "app used to tests different Kubernetes features\n\nUsage:\n  agnhost [command]\n",
        );
    };
    let rest = &args[1..];
    let mut run = Run::forever();
    run.on_term = GO_DEFAULT_TERM;
    match sub.as_str() {
        "liveness" => {
            run.queue.push_back(Item::Listen(vec![liveness_listener()]));
            run.queue.push_back(Item::Mem(6 << 20));
        }
        "netexec" => {
            let port = flag(rest, &["http-port"])
                .and_then(|p| p.parse().ok())
                .unwrap_or(8080u16);
            let udp = flag(rest, &["udp-port"]).unwrap_or_else(|| "8081".into());
            let paths: Vec<(&str, Answer)> = [
                "/",
                "/clientip",
                "/dial",
                "/echo",
                "/exit",
                "/header",
                "/healthz",
                "/hostname",
                "/hostName",
                "/readyz",
                "/redirect",
                "/shell",
                "/shutdown",
                "/upload",
            ]
            .into_iter()
            .map(|p| (p, Answer::Status(200)))
            .collect();
            run.queue.push_back(Item::Listen(vec![http(port, &paths)]));
            run.queue.push_back(Item::Mem(8 << 20));
            run.queue.push_back(Item::Tpl(
                glog(&format!("Started HTTP server on port {port}"))
                    .trim_end()
                    .to_string(),
                true,
            ));
            run.queue.push_back(Item::Tpl(
                glog(&format!("Started UDP server on port  {udp}"))
                    .trim_end()
                    .to_string(),
                true,
            ));
            let delay = flag(rest, &["delay-shutdown"])
                .and_then(|d| d.parse::<u64>().ok())
                .unwrap_or(0);
            run.on_term = Some((Duration::from_secs(delay), 0));
        }
        "pause" => {
            run.queue.push_back(Item::Mem(1 << 20));
            run.queue.push_back(Item::Text("Paused\n".into(), false));
            run.on_term = Some((Duration::ZERO, 0));
        }
        "serve-hostname" => {
            let port = flag(rest, &["port"])
                .and_then(|p| p.parse().ok())
                .unwrap_or(9376u16);
            run.queue.push_back(Item::Listen(vec![http(
                port,
                &[("/", Answer::Status(200))],
            )]));
            run.queue.push_back(Item::Mem(5 << 20));
        }
        "test-webserver" => {
            let port = flag(rest, &["port"])
                .and_then(|p| p.parse().ok())
                .unwrap_or(80u16);
            run.queue.push_back(Item::Listen(vec![http(
                port,
                &[("/", Answer::Status(200))],
            )]));
            run.queue.push_back(Item::Mem(5 << 20));
        }
        other => {
            return Run::done(1).err(format!(
                "Error: unknown command \"{other}\" for \"agnhost\"\nRun 'agnhost --help' for usage.\n"
            ));
        }
    }
    run
}

fn liveness_server() -> Run {
    let mut run = Run::forever();
    run.on_term = GO_DEFAULT_TERM;
    run.queue.push_back(Item::Listen(vec![liveness_listener()]));
    run.queue.push_back(Item::Mem(5 << 20));
    run
}

/// `print("...")`-style statements a `-c`/`-e` one-liner may hold.
fn one_liner(code: &str, print_fn: &str, exit_fn: &str, lang: &str) -> Run {
    let mut run = Run::done(0);
    for stmt in code
        .split([';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if stmt.starts_with("import ") || stmt.starts_with("const ") && stmt.contains("require(") {
            continue;
        }
        let call = |name: &str| {
            stmt.strip_prefix(name)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
                .map(str::trim)
        };
        if let Some(arg) = call(print_fn) {
            let text = arg
                .strip_prefix(['"', '\''])
                .and_then(|a| a.strip_suffix(['"', '\'']))
                .map(str::to_string)
                .or_else(|| arg.parse::<f64>().ok().map(|_| arg.to_string()));
            match text {
                Some(t) => run = run.out(format!("{t}\n")),
                None => {
                    return run.err(format!(
                        "skiff: {lang}: only literal arguments of {print_fn} are simulated; stopped at: {stmt}\n"
                    ));
                }
            }
        } else if let Some(arg) = call("time.sleep") {
            if let Some(Some(d)) = super::machine::sleep_duration(arg) {
                run.queue.push_back(Item::Wait(d));
            }
        } else if let Some(arg) = call(exit_fn) {
            run.end = Some(arg.parse().unwrap_or(1));
            return run;
        } else {
            return run.err(format!(
                "skiff: {lang}: this statement is not simulated; treated as the end of the program: {stmt}\n"
            ));
        }
    }
    run
}

fn python(args: &[String], env: &BTreeMap<String, String>) -> Run {
    let unbuffered = args.iter().any(|a| a == "-u")
        || env.get("PYTHONUNBUFFERED").is_some_and(|v| !v.is_empty());
    let args: Vec<&String> = args.iter().filter(|a| *a != "-u").collect();
    match args.first().map(|a| a.as_str()) {
        None => Run::done(0),
        Some("--version" | "-V") => Run::done(0).out("Python 3.13.1\n"),
        Some("-c") => match args.get(1) {
            Some(code) => one_liner(code, "print", "sys.exit", "python -c"),
            None => Run::done(2).err("Argument expected for the -c option\n"),
        },
        Some("-m") => match args.get(1).map(|a| a.as_str()) {
            Some("http.server") => {
                let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(8000);
                let mut run = Run::forever();
                run.queue.push_back(Item::Listen(vec![http(
                    port,
                    &[("/", Answer::Status(200))],
                )]));
                run.queue.push_back(Item::Mem(12 << 20));
                if unbuffered {
                    // Without -u or PYTHONUNBUFFERED the line sits in stdout's buffer.
                    run.queue.push_back(Item::Text(
                        format!(
                            "Serving HTTP on 0.0.0.0 port {port} (http://0.0.0.0:{port}/) ...\n"
                        ),
                        false,
                    ));
                }
                run
            }
            Some(module) => {
                Run::done(1).err(format!("/usr/local/bin/python: No module named {module}\n"))
            }
            None => Run::done(2).err("Argument expected for the -m option\n"),
        },
        Some(script) => Run::done(2).err(format!(
            "python: can't open file '/{}': [Errno 2] No such file or directory\n",
            script.trim_start_matches('/')
        )),
    }
}

fn node(args: &[String]) -> Run {
    match args.first().map(|a| a.as_str()) {
        None => Run::done(0),
        Some("--version" | "-v") => Run::done(0).out("v22.12.0\n"),
        Some("-e" | "--eval") => match args.get(1) {
            Some(code) => one_liner(code, "console.log", "process.exit", "node -e"),
            None => Run::done(9).err("node: -e requires an argument\n"),
        },
        Some(script) => {
            let path = if script.starts_with('/') {
                script.to_string()
            } else {
                format!("/{script}")
            };
            Run::done(1).err(format!(
                "node:internal/modules/cjs/loader:1228\n  throw err;\n  ^\n\nError: Cannot find module '{path}'\n    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)\n    at Module._load (node:internal/modules/cjs/loader:1051:27)\n    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:174:12)\n    at node:internal/main/run_main_module:28:49 {{\n  code: 'MODULE_NOT_FOUND',\n  requireStack: []\n}}\n\nNode.js v22.12.0\n"
            ))
        }
    }
}

fn http_echo(args: &[String]) -> Run {
    let Some(text) = flag(args, &["text"]) else {
        return Run::done(127).err("Missing -text option!\n");
    };
    let listen = flag(args, &["listen"]).unwrap_or_else(|| ":5678".into());
    let port = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5678u16);
    let _ = text;
    let mut run = Run::forever();
    run.on_term = Some((Duration::ZERO, 0));
    run.queue.push_back(Item::Listen(vec![Listener {
        port,
        http: Some(BTreeMap::new()),
        other_paths: 200,
    }]));
    run.queue.push_back(Item::Mem(4 << 20));
    run.queue.push_back(Item::Tpl(
        format!("{{time:%Y/%m/%d %H:%M:%S}} [INFO] server is listening on {listen}"),
        true,
    ));
    run
}

fn curl(args: &[String]) -> Run {
    if args.iter().any(|a| a == "--version" || a == "-V") {
        return Run::done(0).out("curl 8.11.1 (x86_64-pc-linux-musl) libcurl/8.11.1\n");
    }
    if !args.iter().any(|a| !a.starts_with('-')) {
        return Run::done(2)
            .err("curl: try 'curl --help' or 'curl --manual' for more information\n");
    }
    // Requests from inside a container are not simulated: they succeed without output.
    let mut run = Run::done(0);
    run.on_term = None;
    run
}

fn aws(args: &[String]) -> Run {
    match args.first().map(|a| a.as_str()) {
        Some("--version") => Run::done(0).out(
            "aws-cli/2.22.35 Python/3.12.6 Linux/6.1.119-129.201.amzn2023.x86_64 exe/x86_64.amzn.2023\n",
        ),
        None => Run::done(252).err(
            "usage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\nTo see help text, you can run:\n\n  aws help\n  aws <command> help\n  aws <command> <subcommand> help\n\naws: error: the following arguments are required: command\n",
        ),
        Some(_) => Run::done(253).err(
            "\nUnable to locate credentials. You can configure credentials by running \"aws configure\".\n",
        ),
    }
}

/// The first `n` decimal digits of pi (3, 1, 4, 1, 5, ...), rounded at the last one
/// (Rabinowitz and Wagon's spigot).
pub(crate) fn pi_digits(n: usize) -> Vec<u8> {
    let want = n + 5;
    let len = want * 10 / 3 + 1;
    let mut a = vec![2u64; len];
    let mut out: Vec<u8> = Vec::with_capacity(want + 1);
    let (mut nines, mut predigit, mut started) = (0usize, 0u8, false);
    for _ in 0..want {
        let mut q = 0u64;
        for i in (0..len).rev() {
            let x = 10 * a[i] + q * (i as u64 + 1);
            a[i] = x % (2 * i as u64 + 1);
            q = x / (2 * i as u64 + 1);
        }
        a[0] = q % 10;
        let d = (q / 10) as u8;
        match d {
            9 => nines += 1,
            10 => {
                out.push(predigit + 1);
                out.extend(std::iter::repeat_n(0, nines));
                predigit = 0;
                nines = 0;
            }
            _ => {
                if started {
                    out.push(predigit);
                }
                started = true;
                predigit = d;
                out.extend(std::iter::repeat_n(9, nines));
                nines = 0;
            }
        }
    }
    out.push(predigit);
    out.extend(std::iter::repeat_n(9, nines));
    // Round to n digits.
    let round_up = out.get(n).is_some_and(|d| *d >= 5);
    out.truncate(n);
    if round_up {
        for d in out.iter_mut().rev() {
            if *d == 9 {
                *d = 0;
            } else {
                *d += 1;
                break;
            }
        }
    }
    out
}

/// `perl`: the Job example's `perl -Mbignum=bpi -wle 'print bpi(2000)'`, `perl -v`, and a
/// Perl with no script (which reads an empty stdin and exits).
fn perl(args: &[String]) -> Run {
    if args.iter().any(|a| a == "-v" || a == "--version") {
        return Run::done(0).out(
            "\nThis is perl 5, version 34, subversion 0 (v5.34.0) built for x86_64-linux-gnu-thread-multi\n",
        );
    }
    if let Some(n) = args.iter().find_map(|a| {
        let rest = a.split_once("bpi(")?.1;
        rest.split_once(')')?.0.trim().parse::<usize>().ok()
    }) {
        let n = n.clamp(1, 20_000);
        let digits = pi_digits(n);
        let mut text = String::with_capacity(n + 2);
        for (i, d) in digits.iter().enumerate() {
            text.push((b'0' + d) as char);
            if i == 0 && n > 1 {
                text.push('.');
            }
        }
        text.push('\n');
        let mut run = Run::done(0);
        run.queue.push_back(Item::Mem(12 << 20));
        // Computing 2000 digits with bignum takes Perl a few seconds.
        run.queue.push_back(Item::Wait(Duration::from_millis(
            500 + (n as u64 * n as u64) / 1_000,
        )));
        return run.out(text);
    }
    if let Some(code) = args
        .iter()
        .position(|a| a.starts_with('-') && a.ends_with('e'))
        .and_then(|i| args.get(i + 1))
    {
        return Run::done(0).err(format!(
            "skiff: perl: only `print bpi(N)` is simulated; not run: {code}\n"
        ));
    }
    Run::done(0)
}

/// The run of builtin program `name` with `args`.
pub(crate) fn builtin(name: &str, args: &[String], env: &BTreeMap<String, String>) -> Run {
    match name {
        "stress" => stress(args),
        "agnhost" => agnhost(args),
        "python" => python(args, env),
        "node" => node(args),
        "http-echo" => http_echo(args),
        "curl" => curl(args),
        "aws" => aws(args),
        "liveness-server" => liveness_server(),
        "perl" => perl(args),
        other => Run::done(127).err(format!("skiff: no builtin program {other:?}\n")),
    }
}
