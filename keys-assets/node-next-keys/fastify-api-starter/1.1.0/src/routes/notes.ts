import { randomUUID } from "node:crypto";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type, type Static } from "@sinclair/typebox";

export const Note = Type.Object({
  id: Type.String({ format: "uuid" }),
  title: Type.String({ minLength: 1, maxLength: 200 }),
  body: Type.String({ maxLength: 10_000 }),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});
export type Note = Static<typeof Note>;

const CreateNote = Type.Object({
  title: Type.String({ minLength: 1, maxLength: 200 }),
  body: Type.Optional(Type.String({ maxLength: 10_000 })),
});
const UpdateNote = Type.Partial(CreateNote, { minProperties: 1 });
const IdParams = Type.Object({ id: Type.String({ format: "uuid" }) });
const ListQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});
const NoteList = Type.Object({ items: Type.Array(Note), total: Type.Integer() });
const ErrorBody = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String() });

/** In-memory store. Replace the method bodies with real database calls. */
export class NotesRepository {
  private readonly notes = new Map<string, Note>();

  async list(limit: number, offset: number): Promise<{ items: Note[]; total: number }> {
    const all = [...this.notes.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return { items: all.slice(offset, offset + limit), total: all.length };
  }

  async get(id: string): Promise<Note | undefined> {
    return this.notes.get(id);
  }

  async create(input: { title: string; body?: string }): Promise<Note> {
    const now = new Date().toISOString();
    const note: Note = { id: randomUUID(), title: input.title, body: input.body ?? "", createdAt: now, updatedAt: now };
    this.notes.set(note.id, note);
    return note;
  }

  async update(id: string, patch: { title?: string; body?: string }): Promise<Note | undefined> {
    const existing = this.notes.get(id);
    if (!existing) return undefined;
    const updated: Note = { ...existing, ...patch, updatedAt: new Date().toISOString() };
    this.notes.set(id, updated);
    return updated;
  }

  async delete(id: string): Promise<boolean> {
    return this.notes.delete(id);
  }
}

const notFound = (id: string) => ({ statusCode: 404, error: "Not Found", message: `note ${id} not found` });

export const notesRoutes: FastifyPluginAsyncTypebox<{ repository: NotesRepository }> = async (app, { repository }) => {
  app.get("/", { schema: { tags: ["notes"], summary: "List notes, newest first", querystring: ListQuery, response: { 200: NoteList } } }, async (request) => {
    return repository.list(request.query.limit, request.query.offset);
  });

  app.post("/", { schema: { tags: ["notes"], summary: "Create a note", body: CreateNote, response: { 201: Note } } }, async (request, reply) => {
    const note = await repository.create(request.body);
    return reply.code(201).header("location", `/notes/${note.id}`).send(note);
  });

  app.get("/:id", { schema: { tags: ["notes"], summary: "Fetch a note", params: IdParams, response: { 200: Note, 404: ErrorBody } } }, async (request, reply) => {
    const note = await repository.get(request.params.id);
    return note ?? reply.code(404).send(notFound(request.params.id));
  });

  app.patch(
    "/:id",
    { schema: { tags: ["notes"], summary: "Update a note", params: IdParams, body: UpdateNote, response: { 200: Note, 404: ErrorBody } } },
    async (request, reply) => {
      const note = await repository.update(request.params.id, request.body);
      return note ?? reply.code(404).send(notFound(request.params.id));
    },
  );

  app.delete("/:id", { schema: { tags: ["notes"], summary: "Delete a note", params: IdParams, response: { 204: Type.Null(), 404: ErrorBody } } }, async (request, reply) => {
    const deleted = await repository.delete(request.params.id);
    if (!deleted) return reply.code(404).send(notFound(request.params.id));
    return reply.code(204).send(null);
  });
};
