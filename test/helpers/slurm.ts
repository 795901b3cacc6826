/**
 * A private one-node Slurm cluster for tests: its own munged, slurmctld and slurmd, all
 * configured and logging inside one directory, on ports of their own, so a test can submit
 * real jobs without touching (or needing) a system Slurm, and stop exactly what it started.
 *
 * Usage:
 *
 *   const c = await startSlurm(tmpDir("slurm"));
 *   if ("unavailable" in c) throw new Error(c.unavailable);
 *   try {
 *     const { stdout } = await execa("sbatch", ["--parsable", "--wrap", "true"], { env: c.env });
 *     await waitForJobs(c, [stdout.trim()], 60_000);
 *   } finally {
 *     await c.stop();
 *   }
 *
 * There is no accounting (no slurmdbd), so `sacct` does not work ("Slurm accounting storage
 * is disabled"). A finished job stays in slurmctld's memory for MinJobAge (300 s here): until
 * then `scontrol show job <id>` gives its JobState (COMPLETED, FAILED, CANCELLED...) and
 * ExitCode, and `squeue --states=all` lists it.
 *
 * Needs root: slurmd runs jobs as the submitting user, which takes setuid/setgroups.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { execa } from "execa";

export interface SlurmCluster {
  /**
   * Environment to pass to sbatch/squeue/scontrol/sacct... children (SLURM_CONF etc.). It is
   * complete (the parent's environment without Slurm's input variables, plus SLURM_CONF), so
   * it can be passed with `extendEnv: false` when the tests might themselves run inside a
   * Slurm job whose SLURM_ and SBATCH_ variables would otherwise leak into the commands.
   */
  env: Record<string, string>;
  partition: string;
  /** Directory holding slurm.conf, state, logs. */
  dir: string;
  /** Stops slurmd, slurmctld and munged that this helper started (by PID, SIGTERM then SIGKILL), never any other process. */
  stop(): Promise<void>;
}

const PARTITION = "test";
const STARTUP_TIMEOUT_MS = 60_000;
// How long a daemon gets to exit on SIGTERM before SIGKILL: slurmctld saves its state on
// the way out, which takes well under a second here.
const TERM_GRACE_MS = 10_000;
// sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH = 100;

// Daemons live in sbin, which a non-login shell (or a CI runner) may leave out of PATH.
const EXTRA_BIN_DIRS = ["/usr/sbin", "/usr/local/sbin", "/sbin"];
const DAEMONS = ["munged", "slurmctld", "slurmd"] as const;
const CLIENTS = ["sinfo", "squeue", "scontrol", "scancel"] as const;

// Variables that Slurm's commands read as defaults (SBATCH_PARTITION, SQUEUE_FORMAT...) or
// that describe an enclosing job (SLURM_JOB_ID...): any of them could steer a command away
// from this cluster or change the output format the helper parses.
const SLURM_INPUT_VAR = /^(SLURM|SBATCH|SALLOC|SRUN|SQUEUE|SINFO|SCONTROL|SCANCEL|SACCT|SSTAT|SPRIO|SREPORT|SSHARE)_/;

interface Daemon {
  name: string;
  child: ChildProcess;
  log: string;
  /** Settles when Node has reaped the process: only then could its PID be reused. */
  exited: Promise<void>;
}

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // Not in this directory; try the next.
    }
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isRunning(d: Daemon): boolean {
  return d.child.exitCode === null && d.child.signalCode === null;
}

function tail(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, "utf8").trimEnd();
    return text.split("\n").slice(-lines).join("\n");
  } catch (e) {
    return `(cannot read: ${(e as Error).message})`;
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    // No host: the wildcard (dual-stack) address, which collides with any listener on the
    // port, IPv4 or IPv6, loopback or not.
    srv.listen({ port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Random free ports below Linux's ephemeral range (32768 up), so that no outgoing
 * connection grabs one between this check and the daemon binding it. The default Slurm
 * ports (6817/6818) are never used, so a system Slurm on the machine is not disturbed.
 */
async function pickPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < n && tries < 500; tries++) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    if (!ports.includes(p) && (await portFree(p))) ports.push(p);
  }
  if (ports.length < n) throw new Error("no free TCP port found in 20000-31999");
  return ports;
}

function startDaemon(name: string, bin: string, args: string[], env: Record<string, string>, log: string): Daemon {
  // Output goes straight to a file, not a pipe: a pipe would keep the test process's event
  // loop busy (and fill up, blocking the daemon, if nobody read it).
  const fd = fs.openSync(log, "a");
  // A test process that dies without stop() must not leave the daemons behind. Vitest ends
  // its fork workers with a signal, so no 'exit' handler runs there; the kernel's parent-death
  // signal does. setpriv sets it and then execs the daemon, so the PID stays the daemon's.
  const setpriv = findBinary("setpriv");
  const [cmd, argv] = setpriv ? [setpriv, ["--pdeathsig", "KILL", "--", bin, ...args]] : [bin, args];
  let child: ChildProcess;
  try {
    // Not detached: the daemons stay in the test runner's process group, so a Ctrl-C that
    // interrupts vitest stops them too. unref() is what keeps them from holding vitest open.
    child = spawn(cmd, argv, { env, stdio: ["ignore", fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  child.unref();
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    // A spawn failure (ENOENT, EACCES) comes as 'error' without 'exit'.
    child.once("error", (e) => {
      fs.appendFileSync(log, `spawn ${bin} failed: ${e.message}\n`);
      resolve();
    });
  });
  return { name, child, log, exited };
}

/** SIGTERM, then SIGKILL after the grace period; a process already reaped is never signalled. */
async function terminate(d: Daemon): Promise<void> {
  if (!isRunning(d) || d.child.pid === undefined) return;
  // ChildProcess.kill signals child.pid only while Node has not reaped it, so a PID that has
  // since been reused by an unrelated process cannot be hit.
  d.child.kill("SIGTERM");
  const timedOut = await Promise.race([d.exited.then(() => false), sleep(TERM_GRACE_MS).then(() => true)]);
  if (timedOut && isRunning(d)) {
    d.child.kill("SIGKILL");
    await d.exited;
  }
}

function clusterEnv(conf: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !SLURM_INPUT_VAR.test(k)) env[k] = v;
  }
  env.SLURM_CONF = conf;
  return env;
}

/** CPU count and memory (MB) as slurmd itself sees them, so the node registers without complaint. */
async function detectHardware(slurmd: string, env: Record<string, string>): Promise<{ cpus: number; memMb: number }> {
  const r = await execa(slurmd, ["-C"], { env, extendEnv: false, reject: false, timeout: 15_000 });
  const cpus = Number(/\bCPUs=(\d+)/.exec(r.stdout)?.[1] ?? os.availableParallelism());
  const memMb = Number(/\bRealMemory=(\d+)/.exec(r.stdout)?.[1] ?? Math.floor(os.totalmem() / 2 ** 20));
  return { cpus, memMb };
}

function slurmConf(o: {
  dir: string; host: string; ctldPort: number; slurmdPort: number; mungeSocket: string; cpus: number; memMb: number;
}): string {
  const d = o.dir;
  return `# Written by test/helpers/slurm.ts: a throwaway one-node cluster.
ClusterName=oltrontest
SlurmctldHost=${o.host}(127.0.0.1)
SlurmctldPort=${o.ctldPort}
SlurmdPort=${o.slurmdPort}
SlurmUser=root
SlurmdUser=root
# The private munged, not the system one: its key is ours alone.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${o.mungeSocket}
StateSaveLocation=${d}/state
SlurmdSpoolDir=${d}/spool
SlurmctldPidFile=${d}/run/slurmctld.pid
SlurmdPidFile=${d}/run/slurmd.pid
# Timestamped logs; with -D the daemons copy the same lines (without time) to stderr, which
# goes to log/*.out along with anything they print before logging is set up.
SlurmctldLogFile=${d}/log/slurmctld.log
SlurmdLogFile=${d}/log/slurmd.log
# linuxproc/none need no cgroup setup, which a container or VM may not offer.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# No slurmdbd: sacct does not work; finished jobs are visible through scontrol/squeue for
# MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
# Every CPU is one slot, whatever the socket/core/thread layout.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Plain FIFO: backfill has nothing to add on one node. batch_sched_delay=0: batch jobs are
# otherwise scheduled up to 3 s after the event that lets them start (a 4-task array on
# 2 CPUs took 5.8 s instead of 3.7). What remains is slurmctld's 1-second scheduling tick,
# and a first job submitted right after start-up waits ~2.5 s more.
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
# Cancelled jobs get SIGKILL 5 s after SIGTERM (default 30), so stop() is not held up.
KillWait=5
# The node configuration below wins over what slurmd detects: lets opts.cpus differ from
# the hardware without the node being drained.
SlurmdParameters=config_overrides
ReturnToService=2
# The default /bin/mail is usually absent; slurmctld logs an error without this.
MailProg=/bin/true
NodeName=${o.host} NodeAddr=127.0.0.1 CPUs=${o.cpus} RealMemory=${o.memMb} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${o.host} Default=YES MaxTime=INFINITE State=UP
`;
}

/**
 * Returns the cluster, or { unavailable: reason } when Slurm or munge binaries are missing or the
 * daemons cannot start (reason says exactly what failed).
 *
 * `dir` is created if missing; its state/ and spool/ subdirectories are cleared, so a
 * directory reused from an earlier run brings back no jobs.
 */
export async function startSlurm(dir: string, opts: { cpus?: number } = {}): Promise<SlurmCluster | { unavailable: string }> {
  const bins: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of [...DAEMONS, ...CLIENTS]) {
    const p = findBinary(name);
    if (p) bins[name] = p;
    else missing.push(name);
  }
  if (missing.length) return { unavailable: `Slurm/munge binaries not found: ${missing.join(", ")}` };
  if (process.getuid?.() !== 0) return { unavailable: "a private Slurm cluster needs root (slurmd runs jobs as the submitting user)" };

  dir = path.resolve(dir);
  for (const sub of ["state", "spool"]) fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
  for (const sub of ["state", "spool", "run", "log", "munge"]) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const conf = path.join(dir, "slurm.conf");
  const env = clusterEnv(conf);
  const host = os.hostname().split(".")[0];

  // A socket path too long for sun_path would make munged fail with a confusing error; fall
  // back to a short directory of our own, removed by stop().
  let mungeDir = path.join(dir, "munge");
  let ownSocketDir: string | undefined;
  if (path.join(mungeDir, "munge.sock").length > MAX_SOCKET_PATH) {
    ownSocketDir = fs.mkdtempSync(path.join("/tmp", "munge-"));
    mungeDir = ownSocketDir;
  }
  const mungeSocket = path.join(mungeDir, "munge.sock");
  const keyFile = path.join(dir, "munge", "munge.key");
  fs.rmSync(keyFile, { force: true });
  // munged refuses a key readable by anyone but its owner.
  fs.writeFileSync(keyFile, randomBytes(1024), { mode: 0o400 });

  let ctldPort: number;
  let slurmdPort: number;
  try {
    [ctldPort, slurmdPort] = await pickPorts(2);
  } catch (e) {
    return { unavailable: (e as Error).message };
  }
  const { cpus: hwCpus, memMb } = await detectHardware(bins.slurmd, env);
  const cpus = opts.cpus ?? hwCpus;
  fs.writeFileSync(conf, slurmConf({ dir, host, ctldPort, slurmdPort, mungeSocket, cpus, memMb }));

  const daemons: Daemon[] = [];
  // Should the test process exit without calling stop() (process.exit in a test, or no
  // setpriv for the parent-death signal), the daemons still go: an 'exit' handler can only do
  // synchronous work, so SIGKILL.
  const killOnExit = (): void => {
    for (const d of daemons) if (isRunning(d)) d.child.kill("SIGKILL");
  };
  process.on("exit", killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await cancelAllJobs(bins, env, daemons);
      // Reverse start order: slurmd, then slurmctld, and munged last, since the other two
      // still authenticate messages while shutting down.
      for (const d of [...daemons].reverse()) await terminate(d);
      process.off("exit", killOnExit);
      if (ownSocketDir) fs.rmSync(ownSocketDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const fail = async (what: string): Promise<{ unavailable: string }> => {
    await stop();
    const logs = daemons.map((d) => `--- ${d.log} ---\n${tail(d.log)}`).join("\n");
    return { unavailable: `private Slurm cluster in ${dir}: ${what}\n${logs}` };
  };
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  const died = (): Daemon | undefined => daemons.find((d) => !isRunning(d));
  /** Polls `ready` until it holds; undefined on success, else what went wrong. */
  const waitFor = async (what: string, ready: () => Promise<boolean>): Promise<string | undefined> => {
    for (;;) {
      if (await ready()) return undefined;
      const dead = died();
      if (dead) return `${dead.name} exited (code ${dead.child.exitCode}, signal ${dead.child.signalCode}) while waiting for ${what}`;
      if (Date.now() > deadline) return `timed out after ${STARTUP_TIMEOUT_MS / 1000} s waiting for ${what}`;
      await sleep(250);
    }
  };
  const client = (cmd: string, args: string[]) =>
    execa(bins[cmd], args, { env, extendEnv: false, reject: false, all: true, timeout: 10_000, stdin: "ignore" });

  // munged: --force because it otherwise refuses to start when the socket's directory is not
  // reachable by all users (mkdtemp directories are 0700); only root talks to it here.
  // -F keeps it in the foreground, so the spawned PID is munged itself, not a parent that
  // forks it away.
  daemons.push(startDaemon("munged", bins.munged, [
    "-F", "--force",
    `--key-file=${keyFile}`,
    `--socket=${mungeSocket}`,
    `--pid-file=${path.join(dir, "run", "munged.pid")}`,
    `--log-file=${path.join(dir, "log", "munged.log")}`,
    `--seed-file=${path.join(dir, "munge", "munged.seed")}`,
  ], env, path.join(dir, "log", "munged.log")));
  let err = await waitFor("the munge socket", async () => fs.existsSync(mungeSocket));
  if (err) return fail(err);

  // -D: foreground, so the PID we hold is the daemon's. -c: start from empty state, whatever
  // StateSaveLocation holds.
  daemons.push(startDaemon("slurmctld", bins.slurmctld, ["-D", "-c", "-f", conf], env, path.join(dir, "log", "slurmctld.out")));
  // slurmd only once the controller answers: its first registration then reaches a
  // listening slurmctld, and a controller that cannot start is reported as such, not as a
  // node that never became idle.
  err = await waitFor("slurmctld to answer `scontrol ping`", async () => / is UP/.test((await client("scontrol", ["ping"])).all ?? ""));
  if (err) return fail(err);

  daemons.push(startDaemon("slurmd", bins.slurmd, ["-D", "-f", conf], env, path.join(dir, "log", "slurmd.out")));
  let lastState = "";
  err = await waitFor("the node to be idle in sinfo", async () => {
    const r = await client("sinfo", ["-h", "-N", "-o", "%t"]);
    lastState = (r.all ?? "").trim();
    return r.exitCode === 0 && lastState === "idle";
  });
  if (err) return fail(`${err} (last sinfo: ${JSON.stringify(lastState)})`);

  return { env, partition: PARTITION, dir, stop };
}

/**
 * Cancels whatever jobs are left, and gives slurmd a moment to kill their processes:
 * slurmstepd and the job scripts are not our children, so stopping the daemons alone would
 * leave them running.
 */
async function cancelAllJobs(bins: Record<string, string>, env: Record<string, string>, daemons: Daemon[]): Promise<void> {
  if (!daemons.every(isRunning) || daemons.length < 3) return;
  const run = (cmd: string, args: string[]) =>
    execa(bins[cmd], args, { env, extendEnv: false, reject: false, all: true, timeout: 10_000, stdin: "ignore" });
  // %F, the array's id (a plain job's own id): scancel rejects the raw job id of an array
  // task ("invalid JobId=6" for task 5_0), and the array id covers its pending tasks too.
  const queued = async (): Promise<string[]> => {
    const r = await run("squeue", ["-h", "-o", "%F"]);
    return r.exitCode === 0 ? [...new Set(r.stdout.split("\n").map((s) => s.trim()).filter(Boolean))] : [];
  };
  let ids = await queued();
  if (!ids.length) return;
  await run("scancel", ids);
  // KillWait (5 s) plus slack for the completing jobs to leave the queue.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (ids = await queued()).length) await sleep(250);
  // Stopping slurmd now leaves these jobs' slurmstepd (which then ignores SIGTERM) and
  // processes behind; say so rather than hunt for processes that are not ours.
  if (ids.length) console.warn(`slurm helper: jobs ${ids.join(", ")} still queued at stop(); their processes may outlive the cluster`);
}

/** Waits until every job in `jobIds` has left the queue (squeue shows none), or throws after timeoutMs. */
export async function waitForJobs(c: SlurmCluster, jobIds: string[], timeoutMs: number): Promise<void> {
  // `sbatch --parsable` prints "id" or "id;cluster"; either form is accepted. An array's
  // master id ("12") covers all its tasks, "12_3" only that task.
  const want = new Set(jobIds.map((id) => id.trim().split(";")[0]));
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    // -r: one line per array task, pending ones included (not "12_[3-9]"); %A the task's own
    // job id, %F the array's id (the job's own id when it is no array), %i "12_3".
    const r = await execa("squeue", ["-h", "-r", "-o", "%A %F %i %T"], {
      env: c.env, extendEnv: false, reject: false, all: true, timeout: 10_000, stdin: "ignore",
    });
    if (r.exitCode === 0) {
      const left = r.stdout.split("\n").filter((line) => line.trim().split(/\s+/).slice(0, 3).some((f) => want.has(f)));
      if (!left.length) return;
      last = `still queued: ${left.join("; ")}`;
    } else {
      // Transient (slurmctld busy) until the deadline says otherwise.
      last = `squeue failed: ${(r.all ?? "").trim()}`;
    }
    if (Date.now() > deadline) throw new Error(`waitForJobs(${jobIds.join(", ")}) timed out after ${timeoutMs} ms; ${last}`);
    await sleep(500);
  }
}
