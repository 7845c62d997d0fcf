//! The `steps!` macro every flow module uses to declare its `Step` enum: the messages a flow
//! sends, each with the kebab-case name that is part of the message id
//! (`{flow}#{subject}#{step}`) and of the template's file name. The names are stored and
//! signed into links, so a variant may be renamed but its string never changes.

/// Declares `pub enum Step` with `as_str`, `parse`, `ALL`, `Display` and serde as the string.
/// A message holds it inside a [`FlowStep`](crate::flows::FlowStep).
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

    };
}

pub(crate) use steps;

/// Declares [`FlowStep`](crate::flows::FlowStep) over every flow's `Step`: one line per flow,
/// `Variant => module`, where `Variant` is the flow's [`Flow`](crate::flows::Flow) variant.
macro_rules! flow_steps {
    ($( $variant:ident => $module:ident ),+ $(,)?) => {
        /// A message's step: which flow's `Step` it is, and which one. Control flow matches on
        /// it; only ids, template names and the stored JSON see its text, which is the
        /// flow's own `as_str`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FlowStep {
            $( $variant($module::Step) ),+
        }

        impl FlowStep {
            /// The flow the step belongs to.
            pub fn flow(self) -> Flow {
                match self {
                    $( FlowStep::$variant(_) => Flow::$variant ),+
                }
            }

            /// The step's name in message ids, template files and links.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( FlowStep::$variant(step) => step.as_str() ),+
                }
            }

            /// The first message `flow` sends.
            pub fn first(flow: Flow) -> FlowStep {
                match flow {
                    $( Flow::$variant => FlowStep::$variant($module::Step::ALL[0]) ),+
                }
            }

            /// The step of `flow` that a stored message names, if `flow` has one by that name.
            pub fn parse(flow: Flow, name: &str) -> Option<FlowStep> {
                match flow {
                    $( Flow::$variant => $module::Step::parse(name).map(FlowStep::$variant) ),+
                }
            }
        }

        $(
            impl From<$module::Step> for FlowStep {
                fn from(step: $module::Step) -> FlowStep {
                    FlowStep::$variant(step)
                }
            }

            impl PartialEq<$module::Step> for FlowStep {
                fn eq(&self, step: &$module::Step) -> bool {
                    *self == FlowStep::$variant(*step)
                }
            }

            impl $module::Step {
                /// This flow's step, when `step` is one of this flow's.
                pub fn of(step: FlowStep) -> Option<Self> {
                    match step {
                        FlowStep::$variant(step) => Some(step),
                        _ => None,
                    }
                }
            }
        )+
    };
}

pub(crate) use flow_steps;
