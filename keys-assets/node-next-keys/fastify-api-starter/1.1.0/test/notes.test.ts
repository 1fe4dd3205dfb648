import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildApp, type App } from "../src/app.js";

let app: App;

beforeEach(async () => {
  app = await buildApp();
});

afterEach(async () => {
  await app.close();
});

describe("GET /health", () => {
  it("reports ok", async () => {
    const res = await app.inject({ method: "GET", url: "/health" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: "ok" });
  });
});

describe("notes", () => {
  it("creates, reads, updates and deletes a note", async () => {
    const created = await app.inject({ method: "POST", url: "/notes", payload: { title: "First", body: "hello" } });
    expect(created.statusCode).toBe(201);
    const note = created.json();
    expect(created.headers.location).toBe(`/notes/${note.id}`);

    const fetched = await app.inject({ method: "GET", url: `/notes/${note.id}` });
    expect(fetched.json()).toMatchObject({ title: "First", body: "hello" });

    const patched = await app.inject({ method: "PATCH", url: `/notes/${note.id}`, payload: { title: "Renamed" } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ title: "Renamed", body: "hello" });

    const deleted = await app.inject({ method: "DELETE", url: `/notes/${note.id}` });
    expect(deleted.statusCode).toBe(204);

    const missing = await app.inject({ method: "GET", url: `/notes/${note.id}` });
    expect(missing.statusCode).toBe(404);
  });

  it("paginates newest first", async () => {
    for (const title of ["a", "b", "c"]) {
      await app.inject({ method: "POST", url: "/notes", payload: { title } });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const res = await app.inject({ method: "GET", url: "/notes?limit=2&offset=0" });
    const page = res.json();
    expect(page.total).toBe(3);
    expect(page.items.map((n: { title: string }) => n.title)).toEqual(["c", "b"]);
  });

  it("rejects invalid input", async () => {
    const empty = await app.inject({ method: "POST", url: "/notes", payload: { title: "" } });
    expect(empty.statusCode).toBe(400);

    const badId = await app.inject({ method: "GET", url: "/notes/not-a-uuid" });
    expect(badId.statusCode).toBe(400);

    const badLimit = await app.inject({ method: "GET", url: "/notes?limit=500" });
    expect(badLimit.statusCode).toBe(400);
  });
});

describe("platform features", () => {
  it("serves an OpenAPI document that includes the notes routes", async () => {
    const res = await app.inject({ method: "GET", url: "/docs/json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/notes/", "/notes/{id}", "/health"]));
  });

  it("rate limits API routes but never the health probe", async () => {
    const limited = await buildApp({ config: { RATE_LIMIT_MAX: 2 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) codes.push((await limited.inject({ method: "GET", url: "/notes" })).statusCode);
      expect(codes).toEqual([200, 200, 429]);

      for (let i = 0; i < 5; i++) {
        expect((await limited.inject({ method: "GET", url: "/health" })).statusCode).toBe(200);
      }
    } finally {
      await limited.close();
    }
  });

  it("reports readiness", async () => {
    const res = await app.inject({ method: "GET", url: "/ready" });
    expect(res.json()).toEqual({ ready: true });
  });
});
