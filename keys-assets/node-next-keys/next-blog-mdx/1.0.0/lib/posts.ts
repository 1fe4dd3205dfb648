import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import matter from "gray-matter";

const POSTS_DIR = path.join(process.cwd(), "content", "posts");

export const site = {
  title: process.env.NEXT_PUBLIC_SITE_TITLE ?? "Engineering Notes",
  description: process.env.NEXT_PUBLIC_SITE_DESCRIPTION ?? "Notes on building and running software.",
  url: (process.env.NEXT_PUBLIC_SITE_URL ?? "http://localhost:3000").replace(/\/$/, ""),
  author: process.env.NEXT_PUBLIC_SITE_AUTHOR ?? "The Team",
};

export interface PostMeta {
  slug: string;
  title: string;
  description: string;
  date: string; // ISO yyyy-mm-dd
  tags: string[];
  draft: boolean;
  readingMinutes: number;
}

export interface Post extends PostMeta {
  content: string; // raw MDX body without front matter
}

function toMeta(slug: string, data: Record<string, unknown>, body: string): PostMeta {
  if (typeof data.title !== "string" || !data.title) throw new Error(`${slug}.mdx: front matter "title" is required`);
  const date = data.date instanceof Date ? data.date.toISOString().slice(0, 10) : String(data.date ?? "");
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error(`${slug}.mdx: front matter "date" must be YYYY-MM-DD`);

  const words = body.split(/\s+/).filter(Boolean).length;
  return {
    slug,
    title: data.title,
    description: typeof data.description === "string" ? data.description : "",
    date,
    tags: Array.isArray(data.tags) ? data.tags.map(String) : [],
    draft: data.draft === true,
    readingMinutes: Math.max(1, Math.round(words / 220)),
  };
}

async function readPost(slug: string): Promise<Post> {
  const source = await readFile(path.join(POSTS_DIR, `${slug}.mdx`), "utf8");
  const { data, content } = matter(source);
  return { ...toMeta(slug, data, content), content };
}

/** Published posts, newest first. Drafts are visible only in `next dev`. */
export async function getAllPosts(): Promise<PostMeta[]> {
  const files = (await readdir(POSTS_DIR)).filter((file) => file.endsWith(".mdx"));
  const posts = await Promise.all(files.map((file) => readPost(file.replace(/\.mdx$/, ""))));
  const showDrafts = process.env.NODE_ENV === "development";
  return posts
    .filter((post) => showDrafts || !post.draft)
    .map(({ content: _content, ...meta }) => meta)
    .sort((a, b) => b.date.localeCompare(a.date));
}

export async function getPost(slug: string): Promise<Post | null> {
  if (!/^[a-z0-9-]+$/.test(slug)) return null;
  try {
    const post = await readPost(slug);
    if (post.draft && process.env.NODE_ENV !== "development") return null;
    return post;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

export function formatDate(iso: string): string {
  return new Date(`${iso}T00:00:00Z`).toLocaleDateString("en-US", {
    year: "numeric",
    month: "long",
    day: "numeric",
    timeZone: "UTC",
  });
}
