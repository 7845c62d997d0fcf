//! The `steps!` macro every flow module uses to declare its `Step` enum: the messages a flow
//! sends, each with the kebab-case name that is part of the message id
//! (`{flow}#{subject}#{step}`) and of the template's file name. The names are stored and
//! signed into links, so a variant may be renamed but its string never changes.

/// Declares `pub enum Step` with `as_str`, `parse`, `ALL`, `Display` and serde as the string.
macro_rules! steps {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal ),+ $(,)?) => {
        /// The messages this flow sends (see `flows::step`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum Step {
            $( $(#[$doc])* #[serde(rename = $name)] $variant ),+
        }

        impl Step {
            /// Every step, in the order the flow sends them.
            pub const ALL: &'static [Step] = &[$(Step::$variant),+];

            /// The name in message ids and template files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Step::$variant => $name ),+
                }
            }

            /// The step a stored message's `step` names, if it is one of this flow's.
            pub fn parse(name: &str) -> Option<Step> {
                Step::ALL.iter().copied().find(|s| s.as_str() == name)
            }
        }

        impl std::fmt::Display for Step {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<Step> for String {
            fn from(step: Step) -> String {
                step.as_str().to_string()
            }
        }

        impl PartialEq<Step> for String {
            fn eq(&self, step: &Step) -> bool {
                self == step.as_str()
            }
        }

        impl PartialEq<Step> for str {
            fn eq(&self, step: &Step) -> bool {
                self == step.as_str()
            }
        }
    };
}

pub(crate) use steps;
