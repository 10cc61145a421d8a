//! `cyborg eval`'s statistics against RSMTool's on one fixture. The expected values were
//! computed with rsmtool 12.0.0 from PyPI (`Analyzer.metrics_helper`, with smd_method
//! "pooled" and "unpooled"; `difference_of_standardized_means`; "williamson" for a subgroup)
//! on the lists below, by this script:
//!
//! ```python
//! import random, numpy as np, pandas as pd
//! from rsmtool.analyzer import Analyzer
//! rng = random.Random(15)
//! human = [rng.randint(1, 6) for _ in range(40)]
//! raw = [round(min(7.2, max(-0.3, h + rng.gauss(0.2, 0.9))), 3) for h in human]
//! levels = [int(min(6, max(1, round(r)))) for r in raw]
//! h, m = pd.Series(human, dtype=float), pd.Series(levels, dtype=float)
//! Analyzer.metrics_helper(h, m, smd_method="pooled")     # and "unpooled"
//! trim = pd.Series(np.clip(raw, 1 - 0.4998, 6 + 0.4998))
//! Analyzer.metrics_helper(h, trim, smd_method="pooled")  # and "unpooled"
//! # group b = every third response from the first: DSM and Williamson's SMD against the
//! # population means and SDs (ddof=1)
//! ```

use cyborg_scorer::fairness::{group_stats, smd, smd_human_sd};
use cyborg_scorer::metrics::{agreement, ScoreRange};
use cyborg_trainer::evaluate::raw_agreement;

const HUMAN: [i64; 40] = [
    2, 1, 5, 6, 1, 2, 2, 1, 1, 6, 2, 6, 3, 2, 1, 3, 4, 6, 3, 3, 4, 3, 3, 2, 2, 3, 3, 2, 3, 6, 5, 4,
    2, 5, 4, 4, 4, 1, 4, 5,
];
const RAW: [f64; 40] = [
    2.494, 0.277, 4.649, 7.2, -0.284, 2.676, 2.322, 0.891, 2.863, 5.764, 2.572, 7.2, 2.01, 1.164,
    1.294, 3.06, 3.693, 6.103, 4.369, 1.704, 3.921, 3.415, 2.889, 0.194, 1.622, 5.152, 3.325, 3.32,
    2.837, 6.2, 5.001, 4.702, 1.575, 4.566, 2.401, 4.467, 4.501, -0.284, 4.576, 4.588,
];
const LEVELS: [i64; 40] = [
    2, 1, 5, 6, 1, 3, 2, 1, 3, 6, 3, 6, 2, 1, 1, 3, 4, 6, 4, 2, 4, 3, 3, 1, 2, 5, 3, 3, 3, 6, 5, 5,
    2, 5, 2, 4, 5, 1, 5, 5,
];

fn close(ours: Option<f64>, rsmtool: f64, what: &str) {
    let ours = ours.unwrap_or_else(|| panic!("{what}: ours is undefined"));
    assert!(
        (ours - rsmtool).abs() < 1e-9,
        "{what}: ours {ours}, RSMTool {rsmtool}"
    );
}

#[test]
fn levels_raw_scores_and_subgroups_match_rsmtool() {
    let range = ScoreRange { min: 1, max: 6 };
    let as_f64 = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let (human, levels) = (as_f64(&HUMAN), as_f64(&LEVELS));

    let a = agreement(&HUMAN, &LEVELS, range);
    close(a.kappa, 0.5786305492851768, "kappa");
    close(a.qwk, 0.8908400569530136, "QWK");
    close(Some(a.exact * 100.0), 65.0, "exact agreement");
    close(Some(a.adjacent * 100.0), 92.5, "adjacent agreement");
    close(a.pearson, 0.894982394557374, "Pearson r");
    close(Some(a.rmse), 0.758287544405155, "RMSE");
    close(smd(&human, &levels), 0.07616757488903642, "SMD, pooled");
    close(
        smd_human_sd(&human, &levels),
        0.07846564721183284,
        "SMD, human SD",
    );

    let raw = raw_agreement(&human, &RAW, range);
    close(raw.qwk, 0.8870248823485262, "raw QWK");
    close(raw.pearson, 0.8926179307244843, "raw Pearson r");
    close(Some(raw.rmse), 0.7903806083147537, "raw RMSE");
    close(raw.smd, 0.03989884442671159, "raw SMD, pooled");
    close(raw.smd_human_sd, 0.04215802293397348, "raw SMD, human SD");

    let column: Vec<String> = (0..40)
        .map(|i| if i % 3 == 0 { "b" } else { "a" }.to_string())
        .collect();
    let groups = group_stats(&HUMAN, &LEVELS, range, &[("group".into(), column)]);
    let b = groups.iter().find(|g| g.value == "b").unwrap();
    close(b.dsm, -0.004146510464332814, "group b DSM");
    close(b.smd, 0.08704865701604159, "group b SMD, Williamson");
}
