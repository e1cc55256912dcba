import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  registerIntakeRoutes,
  subscribeUrlProblem,
  type IntakeRoutesOptions,
} from "../../src/http/intake-routes.js";
import type { EventSink } from "../../src/intake/accept.js";
import type { ObjectEvent } from "../../src/intake/object-event.js";
import { snsStringToSign, verifySnsSignature } from "../../src/intake/sns-signature.js";
import { s3PutNotification } from "../support/s3-notification.js";

const TOKEN = "s3cret-intake-token";
const LIMIT = 4096;
const CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem";

let privateKey: KeyObject;
let otherKey: KeyObject;
let publicPem: string;

beforeAll(() => {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  privateKey = pair.privateKey;
  publicPem = pair.publicKey.export({ type: "spki", format: "pem" }).toString();
  otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
});

/** The real verifier, with the test key served as the SNS certificate. */
const verifySns: typeof verifySnsSignature = (message) =>
  verifySnsSignature(message, { fetchCert: async () => publicPem });

function s3Body(keys: string[], extra: unknown[] = []) {
  const objects = keys.map((key, i) => ({ key, size: 10, eTag: `e${i}`, sequencer: `0A${i}` }));
  const { Records } = s3PutNotification("media-in", objects, "2024-05-01T12:00:00.000Z");
  return { Records: [...Records, ...extra] };
}

function snsSigned(fields: Record<string, string>, key: KeyObject = privateKey): Record<string, string> {
  const message = {
    MessageId: "f3b2c1d0-0000-4000-8000-000000000001",
    TopicArn: "arn:aws:sns:eu-west-1:111122223333:ingest",
    Timestamp: new Date().toISOString(),
    SignatureVersion: "2",
    SigningCertURL: CERT_URL,
    ...fields,
  };
  const signature = sign("RSA-SHA256", Buffer.from(snsStringToSign(message as never), "utf8"), key);
  return { ...message, Signature: signature.toString("base64") };
}

interface Rig {
  app: FastifyInstance;
  events: ObjectEvent[];
  subscribed: string[];
}

const apps: FastifyInstance[] = [];

async function rig(overrides: Partial<IntakeRoutesOptions> = {}): Promise<Rig> {
  const events: ObjectEvent[] = [];
  const subscribed: string[] = [];
  const sink: EventSink = {
    async enqueue(batch) {
      events.push(...batch);
    },
  };
  const app = Fastify({ bodyLimit: LIMIT });
  await registerIntakeRoutes(app, {
    token: TOKEN,
    sink,
    verifySns,
    fetchSubscribe: async (url) => {
      subscribed.push(url);
    },
    ...overrides,
  });
  apps.push(app);
  return { app, events, subscribed };
}

function post(app: FastifyInstance, body: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method: "POST",
    url: "/v1/events/s3",
    headers: { "content-type": "application/json", ...headers },
    payload: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const bearer = { authorization: `Bearer ${TOKEN}` };

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe("POST /v1/events/s3", () => {
  it("answers 202 with counts once the events are with the sink; keys arrive decoded", async () => {
    const { app, events } = await rig();
    const res = await post(
      app,
      s3Body(["a/one+file.mp4", "a/two%C3%A9.mp4"], [{ eventName: "s3:ObjectRestore:Post" }]),
      bearer,
    );
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 2, ignored: 1 });
    expect(events.map((e) => e.key)).toEqual(["a/one file.mp4", "a/twoé.mp4"]);
    expect(events.every((e) => e.source === "http")).toBe(true);
  });

  it("parses text/plain bodies as JSON (SNS posts text/plain)", async () => {
    const { app, events } = await rig();
    const res = await post(app, s3Body(["t.mp4"]), {
      ...bearer,
      "content-type": "text/plain; charset=UTF-8",
    });
    expect(res.statusCode).toBe(202);
    expect(events).toHaveLength(1);
  });

  it("refuses missing and wrong tokens with 401, and any bearer when no token is configured", async () => {
    const { app, events } = await rig();
    expect((await post(app, s3Body(["x.mp4"]))).statusCode).toBe(401);
    expect((await post(app, s3Body(["x.mp4"]), { authorization: "Bearer nope" })).statusCode).toBe(401);
    expect((await post(app, s3Body(["x.mp4"]), { authorization: `Bearer ${TOKEN}x` })).statusCode).toBe(401);
    expect((await post(app, s3Body(["x.mp4"]), { authorization: TOKEN })).statusCode).toBe(401);
    const open = await rig({ token: undefined });
    expect((await post(open.app, s3Body(["x.mp4"]), bearer)).statusCode).toBe(401);
    expect((await post(open.app, s3Body(["x.mp4"]))).statusCode).toBe(401);
    expect(events).toHaveLength(0);
    expect(open.events).toHaveLength(0);
  });

  it("answers 413 above the body limit", async () => {
    const { app, events } = await rig();
    const big = s3Body(Array.from({ length: 40 }, (_, i) => `folder/object-${i}.mp4`));
    expect(JSON.stringify(big).length).toBeGreaterThan(LIMIT);
    const res = await post(app, big, bearer);
    expect(res.statusCode).toBe(413);
    const plain = await post(app, big, { ...bearer, "content-type": "text/plain" });
    expect(plain.statusCode).toBe(413);
    expect(events).toHaveLength(0);
  });

  it("answers 400 with the reason for a body that is not a notification", async () => {
    const { app } = await rig();
    const notJson = await post(app, "{not json", bearer);
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error).toMatch(/^body: not valid JSON/);
    const wrongShape = await post(app, { hello: "world" }, bearer);
    expect(wrongShape.statusCode).toBe(400);
    expect(wrongShape.json().error).toMatch(/not an S3 notification .*fields: hello/);
  });

  it("answers 503 when the events cannot be stored, so the sender retries", async () => {
    const { app } = await rig({
      sink: {
        enqueue: async () => {
          throw new Error("Connection is closed.");
        },
      },
    });
    const res = await post(app, s3Body(["x.mp4"]), bearer);
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("5");
  });

  it("accepts an SNS notification with a valid signature and no token", async () => {
    const { app, events } = await rig();
    const message = snsSigned({ Type: "Notification", Message: JSON.stringify(s3Body(["sns/video.mp4"])) });
    const res = await post(app, message, {
      "content-type": "text/plain; charset=UTF-8",
      "x-amz-sns-message-type": "Notification",
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 1, ignored: 0 });
    expect(events[0]?.key).toBe("sns/video.mp4");
  });

  it("refuses forged SNS messages with 401: another key, or a tampered Message", async () => {
    const { app, events } = await rig();
    const forged = snsSigned({ Type: "Notification", Message: JSON.stringify(s3Body(["f.mp4"])) }, otherKey);
    expect((await post(app, forged, { "x-amz-sns-message-type": "Notification" })).statusCode).toBe(401);
    const good = snsSigned({ Type: "Notification", Message: JSON.stringify(s3Body(["f.mp4"])) });
    const tampered = { ...good, Message: JSON.stringify(s3Body(["evil.mp4"])) };
    const res = await post(app, tampered, { "x-amz-sns-message-type": "Notification" });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toMatch(/signature does not match/);
    // A certificate URL off the SNS hosts is refused before anything is fetched.
    const offHost = snsSigned({
      Type: "Notification",
      Message: "{}",
      SigningCertURL: "https://evil.example/cert.pem",
    });
    expect((await post(app, offHost)).statusCode).toBe(401);
    expect(events).toHaveLength(0);
  });

  it("confirms a signed subscription only toward an SNS host", async () => {
    const { app, subscribed } = await rig({ token: undefined });
    const good = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t1";
    /** A subscription confirmation naming `url`, signed with `key`. */
    const confirmation = (url: string, token: string, key?: KeyObject) =>
      snsSigned(
        { Type: "SubscriptionConfirmation", Message: "confirm", SubscribeURL: url, Token: token },
        key,
      );
    const asConfirmation = { "x-amz-sns-message-type": "SubscriptionConfirmation" };
    const res = await post(app, confirmation(good, "t1"), asConfirmation);
    expect(res.statusCode).toBe(200);
    expect(subscribed).toEqual([good]);

    for (const evil of [
      "https://169.254.169.254/latest/meta-data/",
      "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
      "https://sns.eu-west-1.amazonaws.com.evil.example/?x",
      "https://sns.eu-west-1.amazonaws.com:8443/?x",
    ]) {
      const refused = await post(app, confirmation(evil, "t"), asConfirmation);
      expect(refused.statusCode, evil).toBe(400);
    }
    const unsigned = confirmation(good, "t1", otherKey);
    expect((await post(app, unsigned, bearer)).statusCode).toBe(401);
    expect(subscribed).toEqual([good]);
  });

  it("checks SubscribeURLs with the SNS certificate host rule", () => {
    expect(
      subscribeUrlProblem("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"),
    ).toBeUndefined();
    expect(subscribeUrlProblem("https://sns.cn-north-1.amazonaws.com.cn/?a")).toBeUndefined();
    expect(subscribeUrlProblem("https://user:pw@sns.us-east-1.amazonaws.com/")).toMatch(/credentials/);
    expect(subscribeUrlProblem("https://example.com/")).toMatch(
      /SubscribeURL host example.com is not an SNS host/,
    );
    expect(subscribeUrlProblem("not a url")).toMatch(/not a URL/);
  });
});
