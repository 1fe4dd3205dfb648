//! Markdown from manifests to safe HTML: raw HTML in the source is shown as text, never
//! interpreted, and links keep only http(s), same-site path and anchor targets — a
//! protocol-relative `//evil.example` (or `/\evil.example`, which browsers read the same way)
//! is neutralised like `javascript:`.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

/// A path on this site: `/…`, but not `//host` or `/\\host` (protocol-relative to browsers).
fn is_site_path(url: &str) -> bool {
    let mut chars = url.chars();
    chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'))
}

/// Renders markdown to HTML that is safe to embed.
#[must_use]
pub fn to_safe_html(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS,
    )
    .map(|event| match event {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let safe = dest_url.starts_with("https://")
                || dest_url.starts_with("http://")
                || is_site_path(&dest_url)
                || dest_url.starts_with('#');
            let dest_url = if safe { dest_url } else { CowStr::Borrowed("#") };
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            })
        }
        Event::Start(Tag::Image { title, .. }) => Event::Text(title),
        Event::End(pulldown_cmark::TagEnd::Image) => Event::Text(CowStr::Borrowed("")),
        e => e,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_and_script_links_are_neutralised() {
        let html = to_safe_html("Hi <script>alert(1)</script> [x](javascript:alert(1)) **b**");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("<strong>b</strong>"));
    }

    #[test]
    fn protocol_relative_links_are_neutralised() {
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
        ] {
            let html = to_safe_html(&format!("[x]({bad})"));
            assert!(html.contains("href=\"#\""), "{bad}: {html}");
            assert!(!html.contains("evil.example"), "{bad}: {html}");
        }
        for good in ["/marketplace", "https://example.com", "http://example.com", "#top"] {
            let html = to_safe_html(&format!("[x]({good})"));
            assert!(html.contains(&format!("href=\"{good}\"")), "{good}: {html}");
        }
    }
}
