import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const repoRoot = path.resolve(__dirname, '..', '..');

/** The release binary `cargo leptos end-to-end --release` has just built. */
export const lifelineBin =
  process.env.LIFELINE_BIN ??
  path.join(process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target'), 'release', 'lifeline');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A fresh, empty PostgreSQL database on the server `TEST_DATABASE_URL` names (`make test-e2e`
 * starts a throwaway one through scripts/with-postgres); its URL.
 */
export function freshPostgres(): string {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error('TEST_DATABASE_URL is not set: run through scripts/with-postgres (make test-e2e does)');
  const name = `lifeline_e2e_${randomUUID().replaceAll('-', '')}`;
  execFileSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`]);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The admin password test servers are created with. */
export const ADMIN_PASSWORD = 'correct horse battery staple';
/** The API key test servers accept. */
export const API_KEY = 'e2e-key-0123456789abcdef';

/** How to start a test server. */
export interface ServerOptions {
  /** Create the admin from this password; `null` leaves the server waiting for setup. */
  adminPassword?: string | null;
  /** Extra arguments for `lifeline serve`. */
  args?: string[];
  /** Another build to run (the benchmarks compare two): its binary and its site folder. */
  build?: { bin: string; siteRoot: string };
}

/** A real `lifeline serve` process on its own port and data folder. */
export class LifelineServer {
  private proc: ChildProcess | null = null;
  /** The setup code the server printed at its last start (while it has no admin). */
  setupCode: string | null = null;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly logPath: string,
    private readonly options: ServerOptions,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts a server on a free port with a fresh data folder; resolves once it listens. */
  static async start(logPath: string, options: ServerOptions = {}): Promise<LifelineServer> {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lifeline-e2e-'));
    const server = new LifelineServer(await freePort(), dataDir, logPath, options);
    await server.launch();
    return server;
  }

  /** (Re)starts the process on the same port and data folder. */
  async launch(): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: 'a' });
    const proc = spawn(
      this.options.build?.bin ?? lifelineBin,
      [
        'serve',
        '--simulator',
        '--addr',
        `127.0.0.1:${this.port}`,
        '--data-dir',
        this.dataDir,
        ...(this.options.args ?? []),
      ],
      {
        cwd: repoRoot,
        env: this.environment(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.proc = proc;
    proc.stdout!.pipe(log);
    proc.stderr!.pipe(log);
    // Ready is an event, not a guess: the server logs the line below once it listens.
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const onData = (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('Lifeline listening on')) {
          this.setupCode = /setup code ([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})/.exec(seen)?.[1] ?? null;
          proc.stdout!.off('data', onData);
          resolve();
        }
      };
      proc.stdout!.on('data', onData);
      proc.once('exit', (code) =>
        reject(new Error(`lifeline exited with ${code} before listening; see ${this.logPath}`)),
      );
    });
  }

  private environment(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: '1',
      LEPTOS_SITE_ROOT: this.options.build?.siteRoot ?? path.join(repoRoot, 'target', 'site'),
      LIFELINE_API_KEY: API_KEY,
    };
    // The Makefile gives cargo-leptos's own server a throwaway setup; ours choose their own.
    delete env.LIFELINE_ADDR;
    delete env.LIFELINE_DATA_DIR;
    const password = this.options.adminPassword === undefined ? ADMIN_PASSWORD : this.options.adminPassword;
    if (password === null) delete env.LIFELINE_ADMIN_PASSWORD;
    else env.LIFELINE_ADMIN_PASSWORD = password;
    return env;
  }

  /** Stops the process and starts `build` in its place, on the same port and data: a new
   * release deployed over this one. */
  async upgrade(build: { bin: string; siteRoot: string }): Promise<void> {
    await this.stop();
    this.options.build = build;
    await this.launch();
  }

  /** SIGTERM, as a service manager stops it; waits for the exit. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** SIGKILL: the server dies without any chance to clean up. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Calls the REST API with the test API key. */
  async api(method: string, path: string, body?: unknown): Promise<any> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** Creates a simulated session and pairs it, linking `phone` if given. */
  async pairedSession(name: string, phone?: string): Promise<string> {
    const created = await this.api('POST', '/sessions', { name, connector: 'simulator' });
    await this.scan(created.id, phone);
    return created.id;
  }

  /** The simulated phone scans the session's QR code, once one is on screen. */
  async scan(id: string, phone?: string): Promise<void> {
    for (;;) {
      const session = await this.api('GET', `/sessions/${id}`);
      if (session.status === 'qr_pending') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.fault(id, { kind: 'scan', phone_number: phone });
  }

  /** Makes the simulated upstream of a session misbehave. */
  async fault(id: string, fault: object): Promise<void> {
    await this.api('POST', `/dev/simulator/sessions/${id}/fault`, fault);
  }

  /** Stops the server and deletes its data. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(sig);
    await exited;
  }
}
