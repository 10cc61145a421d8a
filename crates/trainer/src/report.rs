//! `cyborg eval --report`: one self-contained HTML file (no scripts, fonts or links to fetch)
//! with inline SVG plots, for people who read results rather than JSON.

use cyborg_scorer::calibration::TRIM_TOLERANCE;
use cyborg_scorer::fairness::{Gate, GroupStats, SMALL_GROUP};
use cyborg_scorer::metrics::Agreement;
use cyborg_scorer::traits::TraitResult;

use std::path::Path;

use crate::evaluate::{
    CalibrationResult, Comparison, Evaluated, Evaluation, RawAgreement, SmdConstrained,
    TeacherAgreement,
};
use crate::experiment::LearningCurve;
use crate::format::{
    escape_html as escape, format_kappa as kappa, format_signed as signed, markdown_table,
    now_rfc3339,
};

/// The HTML report of `model`'s evaluation, dated now.
pub fn html_of(model: &Path, evaluated: &Evaluated) -> String {
    html(
        &model.display().to_string(),
        &evaluated.data_path.display().to_string(),
        &now_rfc3339(),
        &evaluated.evaluation,
        evaluated.learning_curve.as_ref(),
    )
}

/// The Markdown summary of `model`'s evaluation.
pub fn markdown_of(model: &Path, evaluated: &Evaluated) -> String {
    markdown(
        &model.display().to_string(),
        &evaluated.data_path.display().to_string(),
        &evaluated.evaluation,
    )
}

const HUMAN_COLOUR: &str = "#4c72b0";
const MACHINE_COLOUR: &str = "#dd8452";

const TEACHER_COLOUR: &str = "#55a868";

/// Human, machine and (when given) teacher score distributions as grouped bars, one group per
/// level. Each is a share of its own responses, so a teacher that labelled fewer compares.
fn distribution_plot(a: &Agreement, teacher: Option<&Agreement>) -> String {
    let levels = a.confusion.len();
    let rows =
        |m: &Agreement| -> Vec<u64> { m.confusion.iter().map(|row| row.iter().sum()).collect() };
    let columns = |m: &Agreement| -> Vec<u64> {
        (0..levels)
            .map(|j| m.confusion.iter().map(|row| row[j]).sum())
            .collect()
    };
    let mut series = vec![
        ("human", HUMAN_COLOUR, rows(a)),
        ("machine", MACHINE_COLOUR, columns(a)),
    ];
    if let Some(t) = teacher {
        series.push(("teacher", TEACHER_COLOUR, columns(t)));
    }
    let shares: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, _, counts)| {
            let total = counts.iter().sum::<u64>().max(1) as f64;
            counts.iter().map(|&c| c as f64 / total).collect()
        })
        .collect();
    let tallest = shares.iter().flatten().copied().fold(0.01, f64::max);
    let (width, height, left, bottom) = (640.0, 260.0, 40.0, 30.0);
    let slot = (width - left - 10.0) / levels as f64;
    let bar = (slot * 0.8 / series.len() as f64).max(1.0);
    let scale = (height - bottom - 20.0) / tallest;
    let names: Vec<&str> = series.iter().map(|(name, _, _)| *name).collect();
    let mut svg = format!(
        "<svg class=\"plot\" data-plot=\"distribution\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-label=\"Score distributions: {}\">",
        names.join(", ")
    );
    for i in 0..levels {
        let x = left + i as f64 * slot + slot * 0.1;
        for (k, ((who, colour, counts), share)) in series.iter().zip(&shares).enumerate() {
            let bar_height = share[i] * scale;
            svg.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{bar_height:.1}\" \
                 fill=\"{colour}\"><title>{who}, score {}: {} ({:.0}%)</title></rect>",
                x + k as f64 * bar,
                height - bottom - bar_height,
                a.range.min + i as i64,
                counts[i],
                share[i] * 100.0
            ));
        }
        // Label every level on short scales, every fifth on long ones (ASAP-AES goes to 60).
        if levels <= 12 || i % 5 == 0 {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\">{}</text>",
                x + bar * series.len() as f64 / 2.0,
                height - bottom + 16.0,
                a.range.min + i as i64
            ));
        }
    }
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\" class=\"axis\"/>",
        y = height - bottom
    ));
    for (k, (who, colour, _)) in series.iter().enumerate() {
        let x = left + k as f64 * 80.0;
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"13\" class=\"legend\">{who}</text>",
            x + 14.0
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A teacher's agreement with the human scores, in words.
pub fn teacher_text(t: &TeacherAgreement) -> String {
    let a = &t.agreement;
    format!(
        "n = {}, QWK {}, exact {:.3}, mean human {:.3} / teacher {:.3} (SMD {})",
        a.n,
        kappa(a.qwk),
        a.exact,
        a.human_mean,
        a.machine_mean,
        signed(t.smd)
    )
}

/// The confusion matrix as a heat map: rows human, columns machine, darker = more responses.
fn confusion_plot(a: &Agreement) -> String {
    let levels = a.confusion.len();
    let most = a
        .confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let cell = (360.0 / levels as f64).clamp(6.0, 36.0);
    let (left, top) = (50.0, 34.0);
    let side = cell * levels as f64;
    let mut svg = format!(
        "<svg class=\"plot\" data-plot=\"confusion\" viewBox=\"0 0 {w:.0} {h:.0}\" \
         style=\"max-width: {w:.0}px\" role=\"img\" aria-label=\"Confusion matrix, human by machine\">",
        w = left + side + 10.0,
        h = top + side + 10.0
    );
    // Level labels along both axes; every fifth on long scales.
    for i in (0..levels).filter(|i| levels <= 12 || i % 5 == 0) {
        let level = a.range.min + i as i64;
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\">{level}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{level}</text>",
            left + (i as f64 + 0.5) * cell,
            top - 4.0,
            left - 4.0,
            top + (i as f64 + 0.62) * cell
        ));
    }
    for (i, row) in a.confusion.iter().enumerate() {
        for (j, &count) in row.iter().enumerate() {
            let shade = count as f64 / most;
            svg.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{cell:.1}\" height=\"{cell:.1}\" \
                 fill=\"rgba(76,114,176,{:.3})\" stroke=\"#ddd\" stroke-width=\"0.5\">\
                 <title>human {}, machine {}: {count}</title></rect>",
                left + j as f64 * cell,
                top + i as f64 * cell,
                0.04 + 0.96 * shade,
                a.range.min + i as i64,
                a.range.min + j as i64
            ));
            if cell >= 24.0 && count > 0 {
                svg.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" class=\"cell{}\">{count}</text>",
                    left + (j as f64 + 0.5) * cell,
                    top + (i as f64 + 0.62) * cell,
                    if shade > 0.5 { " dark" } else { "" }
                ));
            }
        }
    }
    svg.push_str(&format!(
        "<text x=\"{:.1}\" y=\"12\" class=\"legend\">machine →</text>\
         <text x=\"12\" y=\"{:.1}\" class=\"legend\" transform=\"rotate(-90 12 {:.1})\">human →</text></svg>",
        left,
        top + side / 2.0,
        top + side / 2.0
    ));
    svg
}

/// Each group's SMD as a horizontal bar, with the ±0.10 gate lines.
fn smd_plot(groups: &[GroupStats]) -> String {
    let row = 22.0;
    let longest = groups
        .iter()
        .map(|g| g.label().chars().count() + 10)
        .max()
        .unwrap_or(0);
    // About 6.5 px per character at the labels' 11 px.
    let (label, width) = ((12.0 + 6.5 * longest as f64).clamp(120.0, 380.0), 720.0);
    let height = 30.0 + row * groups.len() as f64;
    let limit = groups
        .iter()
        .filter_map(|g| g.smd.map(f64::abs))
        .fold(0.2f64, f64::max)
        * 1.1;
    let centre = label + (width - label - 10.0) / 2.0;
    let scale = (width - label - 10.0) / 2.0 / limit;
    let mut svg = format!(
        "<svg class=\"plot\" data-plot=\"smd\" viewBox=\"0 0 {width} {height:.0}\" role=\"img\" \
         aria-label=\"Standardised mean difference per group\">"
    );
    for (i, g) in groups.iter().enumerate() {
        let y = 20.0 + i as f64 * row;
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\">{} (n={}){}</text>",
            label - 6.0,
            y + 14.0,
            escape(&g.label()),
            g.n,
            if g.small { " *" } else { "" }
        ));
        if let Some(smd) = g.smd {
            let x = if smd < 0.0 {
                centre + smd * scale
            } else {
                centre
            };
            let fail = smd.abs() > 0.10;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>SMD {smd:+.3}</title></rect>",
                y + 3.0,
                (smd.abs() * scale).max(0.5),
                row - 6.0,
                if fail { "#c44e52" } else { "#55a868" }
            ));
        }
    }
    for (gate, anchor) in [(-0.10, "end"), (0.10, "start")] {
        let x = centre + gate * scale;
        svg.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"14\" x2=\"{x:.1}\" y2=\"{:.1}\" class=\"gate\"/>\
             <text x=\"{x:.1}\" y=\"11\" class=\"legend\" text-anchor=\"{anchor}\">{gate:+.2}</text>",
            height - 4.0
        ));
    }
    svg.push_str(&format!(
        "<line x1=\"{centre:.1}\" y1=\"14\" x2=\"{centre:.1}\" y2=\"{:.1}\" class=\"axis\"/></svg>",
        height - 4.0
    ));
    svg
}

fn gate_rows(gates: &[Gate]) -> String {
    gates
        .iter()
        .map(|g| {
            let (class, verdict) = match g.pass {
                Some(true) => ("pass", "PASS"),
                Some(false) => ("fail", "FAIL"),
                None => ("na", "n/a"),
            };
            format!(
                "<tr><td class=\"{class}\">{verdict}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&g.name),
                signed(g.value),
                escape(&g.note)
            )
        })
        .collect()
}

/// A group's row of the groups table: label (with `small_mark` when small), n, means, SMD,
/// DSM, QWK.
fn group_cells(g: &GroupStats, small_mark: &str) -> [String; 7] {
    [
        format!("{}{}", g.label(), if g.small { small_mark } else { "" }),
        g.n.to_string(),
        format!("{:.3}", g.human_mean),
        format!("{:.3}", g.machine_mean),
        signed(g.smd),
        signed(g.dsm),
        kappa(g.qwk),
    ]
}

/// HTML table rows, one per row of cells, each cell escaped.
fn table_rows<const N: usize>(rows: impl Iterator<Item = [String; N]>) -> String {
    rows.map(|cells| {
        let cells: String = cells
            .iter()
            .map(|c| format!("<td>{}</td>", escape(c)))
            .collect();
        format!("<tr>{cells}</tr>")
    })
    .collect()
}

fn group_rows(groups: &[GroupStats]) -> String {
    table_rows(groups.iter().map(|g| group_cells(g, " *")))
}

/// A calibration method's row: method, QWK, exact, adjacent, SMD.
pub fn calibration_cells(c: &CalibrationResult) -> [String; 5] {
    [
        c.method.clone(),
        kappa(c.qwk),
        format!("{:.3}", c.exact),
        format!("{:.3}", c.adjacent),
        signed(c.smd),
    ]
}

/// The heading of [`trait_cells`]' columns.
pub const TRAIT_HEADINGS: [&str; 6] = ["trait", "n", "QWK", "exact", "RMSE", "Pearson r"];

/// A further trait's row: name, n, QWK and exact agreement of its levels (`–` on a continuous
/// trait), RMSE and Pearson r of its raw score against the human value.
pub fn trait_cells(t: &TraitResult) -> [String; 6] {
    let levels = t.levels.as_ref();
    [
        t.name.clone(),
        t.n.to_string(),
        levels.map_or("–".into(), |a| kappa(a.qwk)),
        levels.map_or("–".into(), |a| format!("{:.3}", a.exact)),
        format!("{:.3}", t.rmse),
        kappa(t.pearson),
    ]
}

/// What the trait table shows, and MCRMSE when there is one.
pub fn traits_note(mcrmse: Option<f64>) -> String {
    let mcrmse = mcrmse.map_or(String::new(), |m| {
        format!(" MCRMSE (mean over the primary score and these traits of the raw score's RMSE): {m:.3}.")
    });
    format!(
        "The bundle's further traits, from the same encoder: levels cut by each trait's own \
         fitted thresholds; RMSE and Pearson r of the raw score, on the trait's scale.{mcrmse}"
    )
}

const CALIBRATION_NOTE: &str = "Each method fitted on four fifths of these responses' raw \
     scores and human scores and applied to the fifth left out, in turn; the bundle's own \
     thresholds (above) were fitted on its development data (with `pooled` cut points, and \
     the probe kept, also on its training responses' held-out scores).";

/// The overall SMD in both of RSMTool's forms, in words.
pub fn smd_text(smd: Option<f64>, smd_human_sd: Option<f64>) -> String {
    format!(
        "{} over the pooled SD (Williamson), {} over the human SD (RSMTool's default)",
        signed(smd),
        signed(smd_human_sd)
    )
}

/// The unrounded raw scores' agreement (RSMTool's trimmed raw scores), in words.
pub fn raw_scores_text(r: &RawAgreement) -> String {
    format!(
        "Pearson r {}, QWK {}, RMSE {:.3}, SMD {}",
        kappa(r.pearson),
        kappa(r.qwk),
        r.rmse,
        smd_text(r.smd, r.smd_human_sd)
    )
}

/// The SMD-constrained calibration and its cost, in words.
pub fn smd_constrained_text(c: &SmdConstrained) -> String {
    let offsets: Vec<String> = if c.offsets.is_empty() {
        vec!["none needed".into()]
    } else {
        c.offsets
            .iter()
            .map(|(group, offset)| format!("{group} {offset:+.2}"))
            .collect()
    };
    let change = c
        .unconstrained_qwk
        .zip(c.qwk)
        .map_or("undefined".into(), |(u, q)| format!("{:+.3}", q - u));
    let largest = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.2}"));
    let too_small = if c.too_small.is_empty() {
        String::new()
    } else {
        format!(
            " Too small to calibrate on (fewer than {SMALL_GROUP} responses): {}.",
            c.too_small.join(", ")
        )
    };
    format!(
        "Constrained to |SMD| ≤ {:.2} in every group of {} (group-aware raw-score offsets on \
         QWK-optimal thresholds, fitted out-of-fold): QWK {} against {} unconstrained \
         ({change}); largest group |SMD| {} against {}. Offsets: {}.{too_small}",
        c.limit,
        c.columns.join(", "),
        kappa(c.qwk),
        kappa(c.unconstrained_qwk),
        largest(c.max_abs_smd),
        largest(c.unconstrained_max_abs_smd),
        offsets.join(", ")
    )
}

/// The other model's QWK and the paired difference, in words.
pub fn comparison_text(c: &Comparison) -> String {
    let interval = c.difference_ci95.map_or(String::new(), |ci| {
        format!(
            " (paired bootstrap 95% interval {:+.3} to {:+.3})",
            ci.low, ci.high
        )
    });
    format!(
        "its QWK {}, difference {}{interval}",
        kappa(c.qwk),
        signed(c.qwk_difference)
    )
}

/// The learning-curve section: `experiment`'s plot, marked as one of the report's plots.
fn learning_curve_section(curve: &LearningCurve) -> String {
    let svg = curve.svg.replacen(
        "<svg ",
        "<svg class=\"plot\" data-plot=\"learning-curve\" role=\"img\" ",
        1,
    );
    format!(
        "<h2>Learning curve</h2>\n{svg}<p class=\"note\">From the experiment in <code>{}</code>: \
         test QWK (mean over seeds) by the share of the training rows with human scores, one \
         line per arm (human only, teacher pool labels, synthetic responses). Its results.md \
         gives each point's paired bootstrap interval against human only.</p>",
        escape(&curve.dir.display().to_string())
    )
}

/// The advisories' counts for a person: "3 of 150 responses flagged for a person (too_long 1,
/// unusual_words 2)", or that none were.
pub fn advisories_text(e: &Evaluation) -> String {
    if e.flagged == 0 {
        return format!("none of {} responses flagged for a person", e.agreement.n);
    }
    let counts: Vec<String> = e
        .advisories
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    format!(
        "{} of {} responses flagged for a person ({})",
        e.flagged,
        e.agreement.n,
        counts.join(", ")
    )
}

/// The whole report; with `learning_curve`, an experiment's plot too.
pub fn html(
    model: &str,
    data: &str,
    generated: &str,
    e: &Evaluation,
    learning_curve: Option<&LearningCurve>,
) -> String {
    let a = &e.agreement;
    let interval = e.qwk_ci95.map_or(String::new(), |ci| {
        format!(" (95% bootstrap interval {:.3} to {:.3})", ci.low, ci.high)
    });
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Cyborg evaluation: {model}</title>
<style>
{STYLE}</style></head><body>
<h1>Evaluation of {model}</h1>
<p>On <code>{data}</code>: {n} responses, score range {range}. Generated {generated} by cyborg.</p>
{warnings}<h2>Operational gates</h2>
<table><tr><th></th><th>criterion</th><th>value</th><th>note</th></tr>{gates}</table>
<p class="note">Williamson, Xi &amp; Breyer (2012). SMD overall: mean difference over the pooled SD of human and machine scores (sample SDs, divisor n − 1, as in RSMTool).</p>
<h2>Agreement</h2>
<table>
<tr><th>QWK</th><td>{qwk}{interval}</td></tr>
<tr><th>kappa / linear kappa</th><td>{unweighted} / {linear}</td></tr>
<tr><th>exact / adjacent</th><td>{exact:.3} / {adjacent:.3}</td></tr>
<tr><th>Pearson r / Spearman r</th><td>{pearson} / {spearman}</td></tr>
<tr><th>RMSE</th><td>{rmse:.3}</td></tr>
<tr><th>mean human / machine</th><td>{human_mean:.3} / {machine_mean:.3}</td></tr>
<tr><th>SMD</th><td>{smd}</td></tr>
<tr><th>raw scores (unrounded, trimmed to the range ± {TRIM_TOLERANCE})</th><td>{raw_scores}</td></tr>
<tr><th>advisories</th><td>{advisories}</td></tr>
{optional_rows}
</table>
{traits}
<h2>Calibration: raw score to level</h2>
{calibration}
{smd_constrained}
<h2>Score distributions</h2>
{distribution}
<h2>Confusion matrix</h2>
{confusion}
<h2>Subgroups</h2>
{groups}
{learning_curve}
</body></html>
"#,
        warnings = e
            .warnings
            .iter()
            .map(|w| format!("<p class=\"fail\">Warning: {}</p>\n", escape(w)))
            .collect::<String>(),
        advisories = escape(&advisories_text(e)),
        optional_rows = optional_agreement_rows(e),
        traits = traits_section(e),
        calibration = calibration_section(e),
        groups = groups_section(e),
        smd_constrained = e.smd_constrained.as_ref().map_or(String::new(), |c| {
            format!("<p>{}</p>", escape(&smd_constrained_text(c)))
        }),
        model = escape(model),
        data = escape(data),
        generated = escape(generated),
        n = a.n,
        range = a.range,
        gates = gate_rows(&e.gates),
        qwk = kappa(a.qwk),
        linear = kappa(a.linear_kappa),
        unweighted = kappa(a.kappa),
        exact = a.exact,
        adjacent = a.adjacent,
        pearson = kappa(a.pearson),
        spearman = kappa(e.spearman),
        rmse = a.rmse,
        human_mean = a.human_mean,
        machine_mean = a.machine_mean,
        smd = smd_text(e.smd, e.smd_human_sd),
        raw_scores = escape(&raw_scores_text(&e.raw_scores)),
        distribution = distribution_plot(a, e.teacher.as_ref().map(|t| &t.agreement)),
        learning_curve = learning_curve.map_or(String::new(), learning_curve_section),
        confusion = confusion_plot(a),
    )
}

/// The agreement table's rows that only some evaluations have: human-human agreement, the
/// teacher's and a compared model's.
fn optional_agreement_rows(e: &Evaluation) -> String {
    let human_human = e.human_human.as_ref().map_or(String::new(), |hh| {
        format!(
            "<tr><th>human-human QWK</th><td>{} (n = {}, exact {:.3})</td></tr>",
            kappa(hh.qwk),
            hh.n,
            hh.exact
        )
    });
    let teacher = e.teacher.as_ref().map_or(String::new(), |t| {
        format!(
            "<tr><th>teacher (<code>{}</code>)</th><td>{}</td></tr>",
            escape(&t.file),
            escape(&teacher_text(t))
        )
    });
    let comparison = e.comparison.as_ref().map_or(String::new(), |c| {
        format!(
            "<tr><th>against {}</th><td>{}</td></tr>",
            escape(&c.model),
            escape(&comparison_text(c))
        )
    });
    [human_human, teacher, comparison].join("\n")
}

/// Per-trait agreement, for a multi-trait bundle (empty otherwise).
fn traits_section(e: &Evaluation) -> String {
    if e.traits.is_empty() {
        String::new()
    } else {
        let header: String = TRAIT_HEADINGS
            .iter()
            .map(|h| format!("<th>{h}</th>"))
            .collect();
        let rows = table_rows(e.traits.iter().map(trait_cells));
        format!(
            "<h2>Traits</h2>\n<table><tr>{header}</tr>{rows}</table>\n<p class=\"note\">{}</p>",
            escape(&traits_note(e.mcrmse))
        )
    }
}

/// The calibrations compared out-of-fold, or why they were not.
fn calibration_section(e: &Evaluation) -> String {
    if e.calibration.is_empty() {
        "<p>Too few responses to compare calibrations out-of-fold.</p>".to_string()
    } else {
        let rows = table_rows(e.calibration.iter().map(calibration_cells));
        format!(
            "<table><tr><th>method</th><th>QWK</th><th>exact</th><th>adjacent</th><th>SMD</th>\
             </tr>{rows}</table><p class=\"note\">{CALIBRATION_NOTE}</p>"
        )
    }
}

/// The subgroups' plot and table, or how to ask for them.
fn groups_section(e: &Evaluation) -> String {
    if e.groups.is_empty() {
        "<p>No groups were given (<code>--group COL</code>).</p>".to_string()
    } else {
        format!(
            "{}<table><tr><th>group</th><th>n</th><th>human mean</th><th>machine mean</th>\
             <th>SMD</th><th>DSM</th><th>QWK</th></tr>{}</table>\
             <p class=\"note\">SMD: the group's mean difference (machine − human) over the pooled \
             SD of all human and machine scores (divisor n − 1). DSM: the difference of standardised \
             means (RSMTool). * fewer than 30 responses: too few to act on alone.</p>",
            smd_plot(&e.groups),
            group_rows(&e.groups)
        )
    }
}

/// The report's style sheet (the page's Content-Security-Policy allows inline styles only).
const STYLE: &str = "body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { text-align: left; padding: 0.2rem 0.8rem 0.2rem 0; border-bottom: 1px solid #eee; }
.pass { color: #2d7a3e; font-weight: bold; } .fail { color: #b22; font-weight: bold; } .na { color: #777; }
.plot { width: 100%; max-width: 45rem; height: auto; display: block; }
.tick, .legend, .label, .cell { font-size: 11px; fill: #333; }
.tick, .cell { text-anchor: middle; } .label { text-anchor: end; } .cell.dark { fill: #fff; }
.axis { stroke: #333; stroke-width: 1; } .gate { stroke: #b22; stroke-dasharray: 4 3; }
.note { color: #555; font-size: 0.9rem; }
";

/// Text for a Markdown table cell: a `|` would end the cell.
/// The same results as a Markdown summary: gates, agreement, and groups.
pub fn markdown(model: &str, data: &str, e: &Evaluation) -> String {
    let a = &e.agreement;
    let mut out = format!(
        "## Evaluation of `{model}`\n\nOn `{data}`: {} responses, score range {}.\n\n",
        a.n, a.range
    );
    out.push_str(&gates_markdown(e));
    out.push_str(&metrics_markdown(e));
    for warning in &e.warnings {
        out.push_str(&format!("\n**Warning:** {warning}\n"));
    }
    out.push_str(&traits_markdown(e));
    out.push_str(&calibration_markdown(e));
    if let Some(c) = &e.smd_constrained {
        out.push_str(&format!("\n{}\n", smd_constrained_text(c)));
    }
    out.push_str(&groups_markdown(e));
    out
}

/// A Markdown table: its heading row, the rule under it and one row per entry of `rows`.
fn gates_markdown(e: &Evaluation) -> String {
    let rows = e.gates.iter().map(|g| {
        let verdict = match g.pass {
            Some(true) => "PASS",
            Some(false) => "**FAIL**",
            None => "n/a",
        };
        vec![
            g.name.clone(),
            verdict.into(),
            signed(g.value),
            g.note.clone(),
        ]
    });
    markdown_table(&["gate", "result", "value", "note"], rows)
}

/// Agreement, then the optional rows: human-human, the teacher, a compared model.
fn metrics_markdown(e: &Evaluation) -> String {
    let a = &e.agreement;
    let interval = e.qwk_ci95.map_or(String::new(), |ci| {
        format!(" (95% CI {:.3}–{:.3})", ci.low, ci.high)
    });
    let mut rows = vec![
        ["QWK".into(), format!("{}{interval}", kappa(a.qwk))],
        [
            "kappa / linear kappa".into(),
            format!("{} / {}", kappa(a.kappa), kappa(a.linear_kappa)),
        ],
        [
            "exact / adjacent".into(),
            format!("{:.3} / {:.3}", a.exact, a.adjacent),
        ],
        [
            "Pearson / Spearman".into(),
            format!("{} / {}", kappa(a.pearson), kappa(e.spearman)),
        ],
        ["RMSE".into(), format!("{:.3}", a.rmse)],
        [
            "mean human / machine".into(),
            format!("{:.3} / {:.3}", a.human_mean, a.machine_mean),
        ],
        ["SMD".into(), smd_text(e.smd, e.smd_human_sd)],
        [
            "raw scores (unrounded, trimmed)".into(),
            raw_scores_text(&e.raw_scores),
        ],
        ["advisories".into(), advisories_text(e)],
    ];
    if let Some(hh) = &e.human_human {
        rows.push([format!("human-human QWK (n = {})", hh.n), kappa(hh.qwk)]);
    }
    if let Some(t) = &e.teacher {
        rows.push([format!("teacher (`{}`)", t.file), teacher_text(t)]);
    }
    if let Some(c) = &e.comparison {
        rows.push([format!("against `{}`", c.model), comparison_text(c)]);
    }
    format!(
        "\n{}",
        markdown_table(&["metric", "value"], rows.into_iter().map(Vec::from))
    )
}

fn traits_markdown(e: &Evaluation) -> String {
    if e.traits.is_empty() {
        return String::new();
    }
    let rows = e.traits.iter().map(|t| trait_cells(t).to_vec());
    format!(
        "\n{}\n{}\n",
        markdown_table(&TRAIT_HEADINGS, rows),
        traits_note(e.mcrmse)
    )
}

fn calibration_markdown(e: &Evaluation) -> String {
    if e.calibration.is_empty() {
        return String::new();
    }
    let headings = ["calibration", "QWK", "exact", "adjacent", "SMD"];
    let rows = e.calibration.iter().map(|c| calibration_cells(c).to_vec());
    format!(
        "\n{}\n{CALIBRATION_NOTE}\n",
        markdown_table(&headings, rows)
    )
}

fn groups_markdown(e: &Evaluation) -> String {
    if e.groups.is_empty() {
        return String::new();
    }
    let headings = [
        "group",
        "n",
        "human mean",
        "machine mean",
        "SMD",
        "DSM",
        "QWK",
    ];
    let rows = e.groups.iter().map(|g| group_cells(g, " \\*").to_vec());
    format!(
        "\n{}\nSMD: mean difference (machine − human) over the pooled SD of all human \
         and machine scores (divisor n − 1); DSM: difference of standardised means (RSMTool); \
         \\* fewer than 30 responses.\n",
        markdown_table(&headings, rows)
    )
}
