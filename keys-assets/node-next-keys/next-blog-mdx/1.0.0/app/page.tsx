import Link from "next/link";
import { formatDate, getAllPosts, site } from "@/lib/posts";

export default async function HomePage() {
  const posts = await getAllPosts();

  return (
    <>
      <p className="meta">{site.description}</p>
      {posts.length === 0 ? (
        <p>No posts yet. Add an `.mdx` file to `content/posts`.</p>
      ) : (
        <ul className="post-list">
          {posts.map((post) => (
            <li key={post.slug}>
              <h2>
                <Link href={`/blog/${post.slug}`}>{post.title}</Link>
              </h2>
              <div className="meta">
                <time dateTime={post.date}>{formatDate(post.date)}</time> · {post.readingMinutes} min read
                {post.draft && " · draft"}
              </div>
              {post.description && <p>{post.description}</p>}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
