//! Loading override templates from a directory, refusing anything that would silently not
//! apply (a misspelt step, a stray file) or fail later (a syntax error, an unknown variable).

use crate::error::{TemplateError, describe};
use crate::{Part, Scope, Templates, normalise_locale, template_name, with_locale};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The folder holding per-shop overrides, next to the global flow folders.
const SHOPS_DIR: &str = "shops";

/// One override file, loaded into the environment.
struct Loaded {
    name: String,
    path: PathBuf,
    shop: Option<String>,
    flow: String,
    step: String,
    locale: String,
    part: Part,
}

pub(crate) fn load(mut templates: Templates, dir: &Path) -> Result<Templates, TemplateError> {
    let mut loaded = Vec::new();
    for path in entries(dir)? {
        let name = file_name(&path)?;
        if path.is_dir() {
            if name == SHOPS_DIR {
                for shop_dir in entries(&path)? {
                    let shop = file_name(&shop_dir)?;
                    if !shop_dir.is_dir() {
                        return Err(bad(&shop_dir, "expected one folder per shop in shops/"));
                    }
                    for flow_dir in entries(&shop_dir)? {
                        if flow_dir.is_dir() {
                            let flow = file_name(&flow_dir)?;
                            load_flow(&mut templates, &mut loaded, Some(&shop), &flow, &flow_dir)?;
                        } else if is_template(&flow_dir) {
                            return Err(bad(
                                &flow_dir,
                                "templates belong in a flow folder, e.g. thank-you/",
                            ));
                        }
                    }
                }
            } else {
                load_flow(&mut templates, &mut loaded, None, &name, &path)?;
            }
        } else if is_template(&path) {
            return Err(bad(&path, "templates belong in a flow folder, e.g. thank-you/"));
        }
    }

    // Rendered only now that every file is in, since one may extend another.
    for file in &loaded {
        let Some(sample) = templates.sample_context(&file.flow, &file.step) else {
            return Err(bad(&file.path, "no sample context for this step"));
        };
        let rendered = templates
            .env
            .get_template(&file.name)
            .and_then(|template| template.render(with_locale(sample, &file.locale)))
            .map_err(|err| TemplateError::Invalid {
                path: file.path.clone(),
                line: err.line(),
                message: format!("{} (rendering the sample context in CONTEXT.md)", describe(&err)),
            })?;
        // Steps whose context carries an unsubscribe link are service or marketing messages:
        // the law and RFC 8058 etiquette want it visible in both bodies.
        let unsubscribe = sample.pointer("/links/unsubscribe").and_then(|url| url.as_str());
        let is_body = matches!(file.part, Part::Html | Part::Text);
        if is_body && unsubscribe.is_some_and(|url| !rendered.contains(url)) {
            return Err(bad(&file.path, "this message must show {{ links.unsubscribe }}"));
        }
    }
    check_new_locales_are_complete(&templates, &loaded)?;
    templates.names.extend(loaded.into_iter().map(|file| file.name));
    Ok(templates)
}

fn load_flow(
    templates: &mut Templates,
    loaded: &mut Vec<Loaded>,
    shop: Option<&str>,
    flow: &str,
    dir: &Path,
) -> Result<(), TemplateError> {
    if !templates
        .steps
        .iter()
        .any(|s| s.split_once('/').is_some_and(|(f, _)| f == flow))
    {
        let known: BTreeSet<&str> = templates
            .steps
            .iter()
            .filter_map(|s| s.split('/').next())
            .collect();
        return Err(bad(
            dir,
            &format!("unknown flow '{flow}'; known flows: {}", join(known)),
        ));
    }
    for path in entries(dir)? {
        if path.is_dir() {
            return Err(bad(
                &path,
                "unexpected folder; a flow folder holds only template files",
            ));
        }
        if !is_template(&path) {
            continue;
        }
        let file = file_name(&path)?;
        let pieces: Vec<&str> = file.split('.').collect();
        let [step, locale, part, "j2"] = pieces[..] else {
            return Err(bad(
                &path,
                "expected a name like <step>.<locale>.<part>.j2, e.g. feedback.it.html.j2",
            ));
        };
        if !templates.steps.contains(&format!("{flow}/{step}")) {
            let known = templates
                .steps
                .iter()
                .filter_map(|s| s.strip_prefix(flow).and_then(|s| s.strip_prefix('/')));
            return Err(bad(
                &path,
                &format!("unknown step '{step}' of {flow}; known steps: {}", join(known)),
            ));
        }
        let Some(part) = Part::parse(part) else {
            return Err(bad(
                &path,
                &format!("unknown part '{part}'; expected subject, html, text or sms"),
            ));
        };
        let Some(locale) = normalise_locale(locale) else {
            return Err(bad(
                &path,
                &format!("'{locale}' is not a locale like it or it-IT"),
            ));
        };
        let scope = shop.map_or(Scope::Global, Scope::Shop);
        let name = template_name(scope, flow, step, &locale, part);
        if loaded.iter().any(|other| other.name == name) {
            return Err(bad(
                &path,
                "another file already overrides this template (locales ignore case)",
            ));
        }
        let source = fs::read_to_string(&path).map_err(|source| TemplateError::Io {
            path: path.clone(),
            source,
        })?;
        templates
            .env
            .add_template_owned(name.clone(), source)
            .map_err(|err| TemplateError::Invalid {
                path: path.clone(),
                line: err.line(),
                message: describe(&err),
            })?;
        loaded.push(Loaded {
            name,
            path,
            shop: shop.map(str::to_owned),
            flow: flow.to_owned(),
            step: step.to_owned(),
            locale,
            part,
        });
    }
    Ok(())
}

/// `(shop, flow, step, locale)`; no shop for global overrides.
type MessageKey<'a> = (Option<&'a str>, &'a str, &'a str, &'a str);

/// An email in a locale with no built-in must have all its parts in the overrides (a shop's
/// own plus the global ones); otherwise a German HTML body would go out under an English
/// subject. Locales with built-ins may override any single part.
fn check_new_locales_are_complete(templates: &Templates, loaded: &[Loaded]) -> Result<(), TemplateError> {
    let mut parts: BTreeMap<MessageKey<'_>, (BTreeSet<Part>, &Path)> = BTreeMap::new();
    for file in loaded
        .iter()
        .filter(|file| file.part != Part::Sms && !templates.builtin_locales.contains(&file.locale))
    {
        let key = (
            file.shop.as_deref(),
            file.flow.as_str(),
            file.step.as_str(),
            file.locale.as_str(),
        );
        let entry = parts.entry(key).or_insert_with(|| (BTreeSet::new(), &file.path));
        entry.0.insert(file.part);
    }
    for ((shop, flow, step, locale), (present, path)) in &parts {
        let mut present = present.clone();
        let global = shop.and(parts.get(&(None, *flow, *step, *locale)));
        if let Some((global, _)) = global {
            present.extend(global);
        }
        let missing: Vec<&str> = Part::EMAIL
            .iter()
            .filter(|part| !present.contains(part))
            .map(|part| part.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(bad(
                path,
                &format!(
                    "there is no built-in '{locale}' template, so an email in '{locale}' needs subject, \
                     html and text; missing: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The entries of a directory, hidden ones skipped, sorted so errors are reproducible.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, TemplateError> {
    let io = |source| TemplateError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> Result<String, TemplateError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| bad(path, "file names must be UTF-8"))
}

fn is_template(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "j2")
}

fn bad(path: &Path, reason: &str) -> TemplateError {
    TemplateError::BadOverride {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

fn join<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join(", ")
}
