import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { crc32, inflateRawSync } from "node:zlib";

/**
 * A real `helm` for the chart test, from npm alone: Debian ships no helm package, and CI runs only
 * `npm install && npm test`. The devDependency @aws-cdk/asset-kubectl-v20 (no dependencies, no
 * install scripts) carries the official linux-amd64 helm v3.8.1 binary inside its Lambda layer zip
 * (`helm/helm`); it is unpacked once into node_modules/.cache. `HELM_BIN` names another helm.
 */

/** One entry of a zip file, read straight from its central directory. */
export function unzipEntry(zip: Buffer, name: string): Buffer {
  // End of central directory: 22 bytes plus a comment of at most 64 KiB, at the very end.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--)
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw new Error("not a zip file: no end of central directory");
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`zip: bad central directory entry at ${at}`);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const entryName = zip.toString("utf8", at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (entryName !== name) continue;
    if (zip.readUInt32LE(localHeader) !== 0x04034b50) throw new Error(`zip: bad local header for ${name}`);
    // The local header's own name and extra lengths can differ from the central directory's.
    const data = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const raw = zip.subarray(data, data + compressedSize);
    const content = method === 0 ? Buffer.from(raw) : method === 8 ? inflateRawSync(raw) : undefined;
    if (content === undefined) throw new Error(`zip: ${name} uses compression method ${method}`);
    if (content.length !== size || crc32(content) !== crc) throw new Error(`zip: ${name} fails its CRC`);
    return content;
  }
  throw new Error(`zip: no entry ${name}`);
}

/** The layer zip of the npm package, or undefined when it is not installed. */
function layerZip(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve("@aws-cdk/asset-kubectl-v20/package.json")), "lib", "layer.zip");
  } catch {
    return undefined;
  }
}

/** Path of a helm binary, or why there is none (the test then says so instead of passing). */
export function helmBinary(): { path: string } | { missing: string } {
  const fromEnv = process.env.HELM_BIN;
  if (fromEnv)
    return existsSync(fromEnv) ? { path: fromEnv } : { missing: `HELM_BIN=${fromEnv} does not exist` };
  const zip = layerZip();
  if (zip === undefined || !existsSync(zip))
    return { missing: "@aws-cdk/asset-kubectl-v20 is not installed (npm install), and HELM_BIN is unset" };
  if (process.platform !== "linux" || process.arch !== "x64")
    return {
      missing: `the packaged helm is linux-amd64, this is ${process.platform}-${process.arch}: set HELM_BIN`,
    };
  // Keyed by the zip's size and mtime, so a new package version unpacks afresh.
  const { size, mtimeMs } = statSync(zip);
  const dir = resolve(process.cwd(), "node_modules", ".cache", `helm-${size}-${Math.trunc(mtimeMs)}`);
  const path = join(dir, "helm");
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true });
    // Written aside and renamed, so test files unpacking at once never run a half-written binary.
    const partial = `${path}.${process.pid}.partial`;
    writeFileSync(partial, unzipEntry(readFileSync(zip), "helm/helm"));
    chmodSync(partial, 0o755);
    renameSync(partial, path);
  }
  return { path };
}

/** What a helm command printed, and whether it succeeded. */
export interface HelmRun {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs helm with a home of its own, so no repositories, plugins or config of the user's apply. */
export function runHelm(helm: string, args: string[]): Promise<HelmRun> {
  const home = join(tmpdir(), "ingest-worker-helm-home");
  return new Promise((done) => {
    execFile(
      helm,
      args,
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: home,
          HELM_CACHE_HOME: join(home, "cache"),
          HELM_CONFIG_HOME: join(home, "config"),
          HELM_DATA_HOME: join(home, "data"),
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => done({ ok: error === null, stdout, stderr }),
    );
  });
}
