//! The local teacher: needs no network and is stronger than one student on the same human
//! scores, because it is an ensemble of several students and a TF-IDF ridge model that reads
//! the exact words. The first student is the one `train` would fit; the others have their
//! own seeds (so their own shuffles) and are always fine-tuned: with early stopping alone,
//! all of them could fall back to the same linear probe and agree for nothing. Members are
//! blended with a weight chosen on the human-scored development responses.

use std::time::Instant;

use anyhow::Result;
use cyborg_scorer::base::BaseModel;
use cyborg_scorer::features::FEATURE_COUNT;
use cyborg_scorer::metrics::{agreement, ScoreRange, Thresholds};
use cyborg_scorer::model::PreparedText;
use serde::Serialize;

use super::tfidf::TfidfRidge;
use super::TeacherLabel;
use crate::config::StudentConfig;
use crate::data::Row;
use crate::progress::Progress;
use crate::student::{fit_score_student, score_prepared_fitted, FitOutcome, TrainingRow};

/// Blend weights tried for the students' mean against the TF-IDF model.
const BLENDS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// What the fit measured on the development responses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LocalTeacherReport {
    /// Development QWK of each student member, with its own fitted thresholds.
    pub student_dev_qwk: Vec<Option<f64>>,
    /// Development QWK of the TF-IDF member.
    pub tfidf_dev_qwk: Option<f64>,
    /// The students' share of the blend (the TF-IDF model has the rest).
    pub student_share: f64,
    /// Development QWK of the blend: the teacher's.
    pub dev_qwk: Option<f64>,
    /// Seconds the fit took.
    pub seconds: f64,
}

/// A fitted local teacher.
pub struct LocalTeacher {
    /// The encoder its students start from, when it is not the student's own.
    own_base: Option<BaseModel>,
    students: Vec<FitOutcome>,
    tfidf: TfidfRidge,
    student_share: f64,
    /// Cuts of the blend into levels, fitted on development data.
    thresholds: Thresholds,
    /// Each member's own cuts (students first, then TF-IDF), for the confidence.
    member_thresholds: Vec<Thresholds>,
    /// What the fit measured.
    pub report: LocalTeacherReport,
}

/// `rows` tokenized into windows, with their surface features.
fn prepare(base: &BaseModel, rows: &[&Row]) -> Result<Vec<PreparedText>> {
    Ok(rows
        .iter()
        .map(|r| base.text_encoder.prepare(&r.text))
        .collect::<cyborg_scorer::Result<Vec<_>>>()?)
}

/// Each response's raw score from every member: students first, then TF-IDF.
struct MemberScores(Vec<Vec<f64>>);

/// A human-scored row's score.
fn human_score(row: &Row) -> i64 {
    row.score.expect("scores were read")
}

/// The `members` students (seeds `student.seed`, `+1`, …), the first as the student trains,
/// the others always fine-tuned.
fn fit_students(
    base: &BaseModel,
    human: &[&Row],
    dev: &[&Row],
    range: ScoreRange,
    student: &StudentConfig,
    members: usize,
    progress: &Progress,
) -> Result<Vec<FitOutcome>> {
    let train = TrainingRow::human(human);
    (0..members)
        .map(|k| {
            progress.note(&format!("teacher: student member {} of {}", k + 1, members));
            let args = StudentConfig {
                seed: student.seed + k as u64,
                fine_tuned_only: k > 0,
                ..student.clone()
            };
            fit_score_student(base, &train, dev, range, &args, progress)
        })
        .collect()
}

/// The TF-IDF ridge member, fitted on `human` and tuned on `dev` (`dev_texts`: `dev` prepared).
fn fit_tfidf(
    base: &BaseModel,
    human: &[&Row],
    dev: &[&Row],
    dev_texts: &[PreparedText],
    range: ScoreRange,
) -> Result<TfidfRidge> {
    let human_texts = prepare(base, human)?;
    let train: Vec<(&str, [f32; FEATURE_COUNT], f64)> = human
        .iter()
        .zip(&human_texts)
        .map(|(r, t)| (r.text.as_str(), t.features, human_score(r) as f64))
        .collect();
    let dev_set: Vec<(&str, [f32; FEATURE_COUNT], i64)> = dev
        .iter()
        .zip(dev_texts)
        .map(|(r, t)| (r.text.as_str(), t.features, human_score(r)))
        .collect();
    Ok(TfidfRidge::fit(&train, &dev_set, range))
}

impl LocalTeacher {
    /// Fits `members` students (seeds `student.seed`, `+1`, …) and the TF-IDF model on the
    /// human-scored `human` rows, and the blend on `dev`. The students start from `own_base`
    /// when given, else from `base`, the student's encoder.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        base: &BaseModel,
        own_base: Option<BaseModel>,
        human: &[&Row],
        dev: &[&Row],
        range: ScoreRange,
        student: &StudentConfig,
        members: usize,
        progress: &Progress,
    ) -> Result<LocalTeacher> {
        let start = Instant::now();
        let base = own_base.as_ref().unwrap_or(base);
        let students = fit_students(base, human, dev, range, student, members, progress)?;
        progress.note("teacher: TF-IDF ridge member");
        let dev_texts = prepare(base, dev)?;
        let tfidf = fit_tfidf(base, human, dev, &dev_texts, range)?;
        let mut teacher = LocalTeacher {
            own_base: None,
            students,
            tfidf,
            student_share: 1.0,
            thresholds: Thresholds::rounding(range),
            member_thresholds: Vec::new(),
            report: LocalTeacherReport::default(),
        };
        let dev_human: Vec<i64> = dev.iter().map(|r| human_score(r)).collect();
        let members = teacher.member_scores(base, dev, &dev_texts, progress)?;
        let (mut member_qwk, qwk) = teacher.fit_blend(&members, &dev_human, range);
        teacher.own_base = own_base;
        let tfidf_dev_qwk = member_qwk.pop().flatten();
        teacher.report = LocalTeacherReport {
            student_dev_qwk: member_qwk,
            tfidf_dev_qwk,
            student_share: teacher.student_share,
            dev_qwk: Some(qwk).filter(|q| q.is_finite()),
            seconds: start.elapsed().as_secs_f64(),
        };
        Ok(teacher)
    }

    /// Fits each member's thresholds and the blend's student share on the development rows'
    /// `members` scores; returns each member's development QWK and the blend's.
    fn fit_blend(
        &mut self,
        members: &MemberScores,
        dev_human: &[i64],
        range: ScoreRange,
    ) -> (Vec<Option<f64>>, f64) {
        let fitted_qwk = |raw: &[f64]| -> (Option<f64>, Thresholds) {
            let thresholds = Thresholds::fit(raw, dev_human, range);
            let levels: Vec<i64> = raw.iter().map(|&r| thresholds.level(r)).collect();
            (agreement(dev_human, &levels, range).qwk, thresholds)
        };
        let mut member_qwk = Vec::new();
        for raw in &members.0 {
            let (qwk, thresholds) = fitted_qwk(raw);
            member_qwk.push(qwk);
            self.member_thresholds.push(thresholds);
        }
        let mut best: Option<(f64, f64, Thresholds)> = None;
        for share in BLENDS {
            self.student_share = share;
            let (qwk, thresholds) = fitted_qwk(&self.blend(members));
            let qwk = qwk.unwrap_or(f64::NEG_INFINITY);
            // Ties go to the larger share of students, the stronger members on their own.
            if best.as_ref().is_none_or(|b| qwk >= b.0) {
                best = Some((qwk, share, thresholds));
            }
        }
        let (qwk, share, thresholds) = best.expect("blends to try");
        self.student_share = share;
        self.thresholds = thresholds;
        (member_qwk, qwk)
    }

    /// The first student member, trained on the human rows with the student's own seed and
    /// encoder: the plain student. None when the members have an encoder of their own.
    pub fn plain_student(&self) -> Option<&FitOutcome> {
        self.own_base.is_none().then(|| &self.students[0])
    }

    /// Settings worth recording beside each label.
    pub fn describe(&self) -> String {
        let encoder = match &self.own_base {
            Some(own) => format!(" on {}", own.name),
            None => String::new(),
        };
        format!(
            "local: {} students ({}){encoder} + TF-IDF ridge, students' share {:.1}",
            self.students.len(),
            self.students[0].settings.tune,
            self.student_share
        )
    }

    /// Labels `rows`: expected score, level and how many members agree with that level.
    /// `base` is the student's encoder, used unless the members have their own.
    pub fn label(
        &self,
        base: &BaseModel,
        rows: &[&Row],
        progress: &Progress,
    ) -> Result<Vec<TeacherLabel>> {
        let base = self.own_base.as_ref().unwrap_or(base);
        let texts = prepare(base, rows)?;
        let members = self.member_scores(base, rows, &texts, progress)?;
        let blended = self.blend(&members);
        Ok(blended
            .iter()
            .enumerate()
            .map(|(i, &blend)| {
                let range = self.thresholds.range;
                // A regression can overshoot the scale; a label outside it would only teach
                // the student to overshoot too.
                let expected = blend.clamp(range.min as f64, range.max as f64);
                let level = self.thresholds.level(expected);
                let agreeing = members
                    .0
                    .iter()
                    .zip(&self.member_thresholds)
                    .filter(|(raw, cuts)| cuts.level(raw[i]) == level)
                    .count();
                TeacherLabel {
                    expected,
                    level,
                    confidence: Some(agreeing as f64 / members.0.len() as f64),
                }
            })
            .collect())
    }

    /// Every member's raw scores for `rows`, tokenized once as `texts`.
    fn member_scores(
        &self,
        base: &BaseModel,
        rows: &[&Row],
        texts: &[PreparedText],
        progress: &Progress,
    ) -> Result<MemberScores> {
        let mut scores = Vec::new();
        for student in &self.students {
            let raw = score_prepared_fitted(base, student, texts, progress)?;
            scores.push(raw.iter().map(|s| s.raw).collect());
        }
        scores.push(
            rows.iter()
                .zip(texts)
                .map(|(r, t)| self.tfidf.predict(&self.tfidf.vector(&r.text, t.features)))
                .collect(),
        );
        Ok(MemberScores(scores))
    }

    /// The students' mean and the TF-IDF model, blended.
    fn blend(&self, members: &MemberScores) -> Vec<f64> {
        let (students, tfidf) = members.0.split_at(members.0.len() - 1);
        (0..tfidf[0].len())
            .map(|i| {
                let mean = students.iter().map(|s| s[i]).sum::<f64>() / students.len() as f64;
                self.student_share * mean + (1.0 - self.student_share) * tfidf[0][i]
            })
            .collect()
    }
}
