//! A data source's chunking in the three shapes it takes: as the file resolves it (`Chunking`),
//! as Bedrock's API sends and reads it (ChunkingConfiguration), and as CloudFormation writes it;
//! one comparable JSON form for the diff.

use crate::config::Chunking;
use aws_sdk_bedrockagent::types::{
    ChunkingConfiguration, ChunkingStrategy, DataSource as AwsDataSource, FixedSizeChunkingConfiguration,
    HierarchicalChunkingConfiguration, HierarchicalChunkingLevelConfiguration, SemanticChunkingConfiguration,
};
use serde_json::{Value, json};

/// Chunking in one comparable form, from the file or from AWS.
pub fn chunking_json(c: &Chunking) -> Value {
    match c {
        Chunking::FixedSize { max_tokens, overlap_percentage } => {
            json!({"strategy": "FIXED_SIZE", "max_tokens": max_tokens, "overlap_percentage": overlap_percentage})
        }
        Chunking::Hierarchical { parent_max_tokens, child_max_tokens, overlap_tokens } => json!({
            "strategy": "HIERARCHICAL", "parent_max_tokens": parent_max_tokens,
            "child_max_tokens": child_max_tokens, "overlap_tokens": overlap_tokens,
        }),
        Chunking::Semantic { max_tokens, buffer_size, breakpoint_percentile_threshold } => json!({
            "strategy": "SEMANTIC", "max_tokens": max_tokens, "buffer_size": buffer_size,
            "breakpoint_percentile_threshold": breakpoint_percentile_threshold,
        }),
        Chunking::None => json!({"strategy": "NONE"}),
    }
}

/// Chunking as CloudFormation's AWS::Bedrock::DataSource spells it.
pub fn chunking_cfn(c: &Chunking) -> Value {
    match c {
        Chunking::FixedSize { max_tokens, overlap_percentage } => json!({
            "ChunkingStrategy": "FIXED_SIZE",
            "FixedSizeChunkingConfiguration": {"MaxTokens": max_tokens, "OverlapPercentage": overlap_percentage},
        }),
        Chunking::Hierarchical { parent_max_tokens, child_max_tokens, overlap_tokens } => json!({
            "ChunkingStrategy": "HIERARCHICAL",
            "HierarchicalChunkingConfiguration": {
                "LevelConfigurations": [{"MaxTokens": parent_max_tokens}, {"MaxTokens": child_max_tokens}],
                "OverlapTokens": overlap_tokens,
            },
        }),
        Chunking::Semantic { max_tokens, buffer_size, breakpoint_percentile_threshold } => json!({
            "ChunkingStrategy": "SEMANTIC",
            "SemanticChunkingConfiguration": {
                "MaxTokens": max_tokens, "BufferSize": buffer_size,
                "BreakpointPercentileThreshold": breakpoint_percentile_threshold,
            },
        }),
        Chunking::None => json!({"ChunkingStrategy": "NONE"}),
    }
}

pub fn observed_chunking(ds: &AwsDataSource) -> Value {
    let Some(c) = ds.vector_ingestion_configuration().and_then(|v| v.chunking_configuration()) else {
        // AWS's default when none was given.
        return json!({"strategy": "FIXED_SIZE", "max_tokens": 300, "overlap_percentage": 20});
    };
    match c.chunking_strategy() {
        ChunkingStrategy::FixedSize => {
            let f = c.fixed_size_chunking_configuration();
            json!({"strategy": "FIXED_SIZE", "max_tokens": f.map(|f| f.max_tokens()), "overlap_percentage": f.map(|f| f.overlap_percentage())})
        }
        ChunkingStrategy::Hierarchical => {
            let h = c.hierarchical_chunking_configuration();
            let levels = h.map(|h| h.level_configurations()).unwrap_or_default();
            json!({
                "strategy": "HIERARCHICAL",
                "parent_max_tokens": levels.first().map(|l| l.max_tokens()),
                "child_max_tokens": levels.get(1).map(|l| l.max_tokens()),
                "overlap_tokens": h.map(|h| h.overlap_tokens()),
            })
        }
        ChunkingStrategy::Semantic => {
            let s = c.semantic_chunking_configuration();
            json!({
                "strategy": "SEMANTIC", "max_tokens": s.map(|s| s.max_tokens()), "buffer_size": s.map(|s| s.buffer_size()),
                "breakpoint_percentile_threshold": s.map(|s| s.breakpoint_percentile_threshold()),
            })
        }
        other => json!({"strategy": other.as_str()}),
    }
}

pub fn chunking_configuration(c: &Chunking) -> ChunkingConfiguration {
    let b = ChunkingConfiguration::builder();
    let b = match *c {
        Chunking::FixedSize { max_tokens, overlap_percentage } => {
            b.chunking_strategy(ChunkingStrategy::FixedSize).fixed_size_chunking_configuration(
                FixedSizeChunkingConfiguration::builder()
                    .max_tokens(max_tokens as i32)
                    .overlap_percentage(overlap_percentage as i32)
                    .build()
                    .expect("fields are set"),
            )
        }
        Chunking::Hierarchical { parent_max_tokens, child_max_tokens, overlap_tokens } => {
            let level = |t: u32| {
                HierarchicalChunkingLevelConfiguration::builder()
                    .max_tokens(t as i32)
                    .build()
                    .expect("max tokens is set")
            };
            b.chunking_strategy(ChunkingStrategy::Hierarchical).hierarchical_chunking_configuration(
                HierarchicalChunkingConfiguration::builder()
                    .level_configurations(level(parent_max_tokens))
                    .level_configurations(level(child_max_tokens))
                    .overlap_tokens(overlap_tokens as i32)
                    .build()
                    .expect("fields are set"),
            )
        }
        Chunking::Semantic { max_tokens, buffer_size, breakpoint_percentile_threshold } => {
            b.chunking_strategy(ChunkingStrategy::Semantic).semantic_chunking_configuration(
                SemanticChunkingConfiguration::builder()
                    .max_tokens(max_tokens as i32)
                    .buffer_size(buffer_size as i32)
                    .breakpoint_percentile_threshold(breakpoint_percentile_threshold as i32)
                    .build()
                    .expect("fields are set"),
            )
        }
        Chunking::None => b.chunking_strategy(ChunkingStrategy::None),
    };
    b.build().expect("strategy is set")
}

