use std::path::PathBuf;

/// Why templates could not be loaded or a message could not be rendered. Load errors name the
/// file (and line) to fix.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The override directory or one of its files could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An override is misplaced, misnamed or incomplete, so it would never be used as meant.
    #[error("{}: {reason}", path.display())]
    BadOverride { path: PathBuf, reason: String },
    /// An override does not compile, or fails to render its step's sample context.
    #[error("{}{}: {message}", path.display(), line_suffix(*line))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// No template exists for this flow and step.
    #[error("no template for message {flow}/{step}")]
    UnknownMessage { flow: String, step: String },
    /// Rendering failed, typically because the context lacks a variable the template prints.
    #[error("cannot render {template}{}: {message}", line_suffix(*line))]
    Render {
        template: String,
        line: Option<usize>,
        message: String,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|line| format!(" line {line}")).unwrap_or_default()
}

/// minijinja's error kind and detail, without the template name (our errors carry the path).
pub(crate) fn describe(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}
