//! The provider registry (contract 03 §7.4): wire style, endpoint, and the request details
//! that differ between OpenAI-compatible providers; auto-detection from a model name.

/// How a provider is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `POST <base>/chat/completions`, `Authorization: Bearer`.
    OpenAi,
    /// `POST <endpoint>` (the Messages API), `x-api-key`, `anthropic-version`.
    Anthropic,
    /// `POST <base>/models/{model}:generateContent`, `x-goog-api-key`.
    Google,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    MaxTokens,
    MaxCompletionTokens,
}

#[derive(Debug)]
pub struct Provider {
    pub id: &'static str,
    pub name: &'static str,
    pub style: Style,
    /// The base URL (the full endpoint for Anthropic).
    pub base_url: &'static str,
    pub token_field: TokenField,
    /// Temperature is not sent (kimi, minimax).
    pub omit_temperature: bool,
    /// OpenRouter's `reasoning: {effort}` instead of `reasoning_effort`.
    pub nested_reasoning: bool,
    /// Models suggested when discovery is not possible.
    pub suggested: &'static [&'static str],
}

const fn openai(
    id: &'static str,
    name: &'static str,
    base_url: &'static str,
    token_field: TokenField,
    suggested: &'static [&'static str],
) -> Provider {
    Provider {
        id,
        name,
        style: Style::OpenAi,
        base_url,
        token_field,
        omit_temperature: false,
        nested_reasoning: false,
        suggested,
    }
}

use TokenField::{MaxCompletionTokens, MaxTokens};

pub static REGISTRY: &[Provider] = &[
    Provider {
        id: "anthropic",
        name: "Anthropic",
        style: Style::Anthropic,
        base_url: "https://api.anthropic.com/v1/messages",
        token_field: MaxTokens,
        omit_temperature: false,
        nested_reasoning: false,
        suggested: &["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"],
    },
    openai(
        "openai",
        "OpenAI",
        "https://api.openai.com/v1",
        MaxCompletionTokens,
        &["gpt-5", "gpt-5-mini", "gpt-4.1", "o4-mini"],
    ),
    Provider {
        id: "google",
        name: "Google Gemini",
        style: Style::Google,
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        token_field: MaxTokens,
        omit_temperature: false,
        nested_reasoning: false,
        suggested: &["gemini-2.5-pro", "gemini-2.5-flash"],
    },
    Provider {
        nested_reasoning: true,
        ..openai(
            "openrouter",
            "OpenRouter",
            "https://openrouter.ai/api/v1",
            MaxTokens,
            &["anthropic/claude-sonnet-4.5", "openai/gpt-5"],
        )
    },
    openai(
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com",
        MaxTokens,
        &["deepseek-chat", "deepseek-reasoner"],
    ),
    Provider {
        omit_temperature: true,
        ..openai(
            "kimi",
            "Moonshot Kimi",
            "https://api.moonshot.ai/v1",
            MaxTokens,
            &["kimi-k2-0905-preview"],
        )
    },
    openai("xai", "xAI", "https://api.x.ai/v1", MaxTokens, &["grok-4"]),
    openai(
        "mistral",
        "Mistral",
        "https://api.mistral.ai/v1",
        MaxTokens,
        &["mistral-large-latest", "codestral-latest"],
    ),
    openai(
        "zai",
        "Z.ai",
        "https://api.z.ai/api/paas/v4",
        MaxTokens,
        &["glm-4.6"],
    ),
    openai(
        "qwen",
        "Qwen",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        MaxTokens,
        &["qwen3-coder-plus", "qwen-max"],
    ),
    Provider {
        omit_temperature: true,
        ..openai(
            "minimax",
            "MiniMax",
            "https://api.minimax.io/v1",
            MaxTokens,
            &["MiniMax-M2"],
        )
    },
    openai(
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        MaxTokens,
        &["llama-3.3-70b-versatile"],
    ),
    openai(
        "together",
        "Together AI",
        "https://api.together.xyz/v1",
        MaxTokens,
        &["meta-llama/Llama-3.3-70B-Instruct-Turbo"],
    ),
    openai(
        "fireworks",
        "Fireworks AI",
        "https://api.fireworks.ai/inference/v1",
        MaxTokens,
        &["accounts/fireworks/models/llama-v3p3-70b-instruct"],
    ),
];

/// The registry entry of `id`.
pub fn find(id: &str) -> Option<&'static Provider> {
    REGISTRY.iter().find(|p| p.id == id)
}

/// The provider a model name implies (§7.4 auto-detection).
pub fn detect(model: &str) -> &'static str {
    let m = model.to_ascii_lowercase();
    let starts = |p: &[&str]| p.iter().any(|x| m.starts_with(x));
    if m.contains('/') {
        "openrouter"
    } else if starts(&["claude-"]) {
        "anthropic"
    } else if starts(&["gpt-", "o1", "o3", "o4"]) {
        "openai"
    } else if starts(&["gemini-"]) {
        "google"
    } else if starts(&["deepseek-"]) {
        "deepseek"
    } else if starts(&["kimi-"]) {
        "kimi"
    } else if starts(&["grok-"]) {
        "xai"
    } else if starts(&["mistral-", "codestral-", "magistral-", "devstral-"]) {
        "mistral"
    } else if starts(&["glm-"]) {
        "zai"
    } else if starts(&["qwen"]) {
        "qwen"
    } else if starts(&["minimax-"]) {
        "minimax"
    } else {
        "openrouter"
    }
}

/// Reasoning models take a reasoning effort instead of a temperature.
pub fn is_reasoning_model(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    let m = m.rsplit('/').next().unwrap_or(&m);
    ["o1", "o3", "o4", "gpt-5", "gpt-6"]
        .iter()
        .any(|p| m.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_imply_providers() {
        for (model, want) in [
            ("claude-sonnet-4", "anthropic"),
            ("gpt-4o", "openai"),
            ("o3-mini", "openai"),
            ("gemini-2.5-pro", "google"),
            ("meta/llama", "openrouter"),
            ("grok-4", "xai"),
            ("codestral-latest", "mistral"),
            ("glm-4.6", "zai"),
            ("qwen3", "qwen"),
            ("llama3", "openrouter"),
        ] {
            assert_eq!(detect(model), want, "{model}");
        }
        assert!(is_reasoning_model("gpt-5-mini") && !is_reasoning_model("gpt-4.1"));
        assert_eq!(REGISTRY.len(), 14);
    }
}
