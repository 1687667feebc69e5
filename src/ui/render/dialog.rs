//! Dialogs over the screen: the mode chooser, the new-container form (each field's error
//! beside it), confirmations, the quit questions (and the one while a lab job runs), errors
//! and a matrix cell's explanation.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::cut;
use crate::ui::app::Model;
use crate::ui::bench::explain;
use crate::ui::form::{mode_blurb, FieldValue, Form, MODES};
use crate::ui::keys::{DialogAction, FormAction};
use crate::ui::labui::{Overlay, Teardown};
use crate::ui::theme::{MARK_ERROR, MARK_SELECTED};

/// A centred box of at most `w` x `h` inside `area`.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn boxed(frame: &mut Frame, model: &Model, rect: Rect, title: &str, lines: Vec<Line>) {
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_type(BorderType::Double)
                .border_style(model.theme.border(true))
                .title(format!(" {title} ")),
        ),
        rect,
    );
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let Some(overlay) = &model.bench.overlay else {
        return;
    };
    let theme = &model.theme;
    // The keys in use, as the help writes them (a config may remap them).
    let yes = model.keys.dialog_labels(DialogAction::Yes);
    let no = model.keys.dialog_labels(DialogAction::No);
    let first = |v: &[String]| v.first().cloned().unwrap_or_default();
    match overlay {
        Overlay::ChooseMode { index } => {
            let mut lines = vec![Line::styled(
                format!(
                    "Which Docker network mode? ({} chooses, {} cancels)",
                    first(&yes),
                    first(&no)
                ),
                theme.dim(),
            )];
            for (i, m) in MODES.iter().enumerate() {
                let sel = i == *index;
                let text = format!("{:<8} {}", m.to_string(), mode_blurb(*m));
                lines.push(Line::from(vec![
                    Span::raw(if sel { MARK_SELECTED } else { "  " }),
                    Span::styled(
                        text,
                        if sel {
                            theme.selected(true)
                        } else {
                            ratatui::style::Style::new()
                        },
                    ),
                ]));
            }
            let rect = centred(area, 64, lines.len() as u16 + 2);
            boxed(frame, model, rect, "New container: mode", lines);
        }
        Overlay::Form(form) => draw_form(frame, area, model, form),
        Overlay::Confirm(c) => {
            let lines = vec![
                Line::raw(c.question()),
                Line::raw(""),
                Line::styled(
                    format!("{}: yes     {}: no", yes.join(" / "), no.join(" / ")),
                    theme.dim(),
                ),
            ];
            let rect = centred(area, 70, 6);
            boxed(frame, model, rect, "Confirm", lines);
        }
        Overlay::Quit => {
            let what = match model.bench.teardown_plan() {
                Teardown::Down => "the whole lab (this session brought it up)".to_string(),
                Teardown::Remove(n) => format!("this session's containers: {}", n.join(", ")),
                Teardown::Nothing => "nothing (this session made nothing)".to_string(),
            };
            let lines = vec![
                Line::raw("Quit netview. Keep the lab, or tear down what this session made?"),
                Line::raw(""),
                Line::from(vec![
                    Span::styled(yes.join(" / "), theme.filter()),
                    Span::raw(format!(": tear down {what}")),
                ]),
                Line::from(vec![
                    Span::styled(
                        model.keys.dialog_labels(DialogAction::Keep).join(" / "),
                        theme.filter(),
                    ),
                    Span::raw(": keep the lab (netview lab down removes it later)"),
                ]),
                Line::from(vec![
                    Span::styled(first(&no), theme.filter()),
                    Span::raw(": stay"),
                ]),
            ];
            let rect = centred(area, 76, 8);
            boxed(frame, model, rect, "Quit", lines);
        }
        Overlay::QuitDuringJob => {
            let job = model.bench.job.as_ref();
            let what = job.map(|j| j.describe()).unwrap_or_default();
            let key = |a: DialogAction| Span::styled(model.keys.dialog_keys(a), theme.filter());
            let mut lines = vec![
                Line::raw(format!("A lab job is running: {what}.")),
                Line::raw(""),
                Line::from(vec![
                    key(DialogAction::Wait),
                    Span::raw(": wait for it, then quit"),
                ]),
            ];
            if job.is_some_and(|j| j.can_cancel()) {
                lines.push(Line::from(vec![
                    key(DialogAction::CancelJob),
                    Span::raw(": cancel it and roll back what it made, then quit"),
                ]));
            } else {
                lines.push(Line::styled(
                    "(a removal cannot be cancelled half-way)",
                    theme.dim(),
                ));
            }
            lines.push(Line::from(vec![key(DialogAction::No), Span::raw(": stay")]));
            let rect = centred(area, 76, lines.len() as u16 + 2);
            boxed(frame, model, rect, "Quit", lines);
        }
        Overlay::Error(e) => {
            let lines = vec![
                Line::styled(format!("{MARK_ERROR} {e}"), theme.error()),
                Line::raw(""),
                Line::styled(
                    format!("{} / {}: dismiss", first(&yes), first(&no)),
                    theme.dim(),
                ),
            ];
            let h = (e.chars().count() / 60 + 5) as u16;
            let rect = centred(area, 66, h);
            boxed(frame, model, rect, "Error", lines);
        }
        Overlay::Explain => {
            let text = explain(&model.bench.matrix, model.bench.lab.as_ref());
            let w = area.width.saturating_sub(4).min(100);
            let inner_w = usize::from(w.saturating_sub(2)).max(1);
            let rows_of = |l: &String| l.chars().count().max(1).div_ceil(inner_w);
            let style_of = |l: &String| {
                if l.contains("MISMATCH") {
                    theme.mismatch()
                } else {
                    ratatui::style::Style::new()
                }
            };
            // The first line (the cell) stays; the rest scrolls when it does not fit.
            let (head, body) = text
                .split_first()
                .map_or((None, &[][..]), |(h, b)| (Some(h), b));
            let body_rows: usize = body.iter().map(rows_of).sum();
            let scroll_keys = format!(
                "{}/{}: scroll",
                model.keys.dialog_keys(DialogAction::PageDown),
                model.keys.dialog_keys(DialogAction::PageUp),
            );
            let keys_line = |top: usize, shown: usize| {
                let close = format!(
                    "arrows: another cell   {} / {}: close",
                    first(&yes),
                    first(&no)
                );
                if top == 0 && shown == body.len() {
                    close
                } else {
                    let n = body.len();
                    format!(
                        "lines {}–{} of {n}   {scroll_keys}   {close}",
                        top + 1,
                        top + shown
                    )
                }
            };
            // Borders, the cell's line and the key line around the body (the longest key
            // line, so the box never cuts it).
            let head_rows = head.map_or(0, rows_of);
            let keys_rows = rows_of(&keys_line(body.len(), body.len().saturating_sub(1)));
            let room = usize::from(area.height).saturating_sub(2 + head_rows + keys_rows);
            // Scrolled at most so far that the last page is full.
            let mut last_page = body.len();
            let mut tail = 0;
            while last_page > 0 && tail + rows_of(&body[last_page - 1]) <= room {
                last_page -= 1;
                tail += rows_of(&body[last_page]);
            }
            let top = if body_rows <= room {
                0
            } else {
                model
                    .bench
                    .matrix
                    .explain_scroll()
                    .min(last_page.min(body.len().saturating_sub(1)))
            };
            let mut shown = 0;
            let mut used = 0;
            for l in &body[top..] {
                used += rows_of(l);
                if used > room && shown > 0 {
                    break;
                }
                shown += 1;
            }
            let mut lines: Vec<Line> = head
                .map(|h| Line::styled(h.clone(), theme.header()))
                .into_iter()
                .collect();
            lines.extend(
                body[top..top + shown]
                    .iter()
                    .map(|l| Line::styled(l.clone(), style_of(l))),
            );
            let keys_line = keys_line(top, shown);
            let h = head_rows
                + body[top..top + shown].iter().map(rows_of).sum::<usize>()
                + rows_of(&keys_line)
                + 2;
            lines.push(Line::styled(keys_line, theme.dim()));
            let rect = centred(area, w, h.min(usize::from(u16::MAX)) as u16);
            boxed(frame, model, rect, "Why? (the explanation)", lines);
        }
    }
}

fn draw_form(frame: &mut Frame, area: Rect, model: &Model, form: &Form) {
    let theme = &model.theme;
    let mut lines = vec![Line::styled(
        format!("{} — {}", form.mode, mode_blurb(form.mode)),
        theme.dim(),
    )];
    let w = usize::from(area.width.min(96).saturating_sub(4));
    for (i, f) in form.fields.iter().enumerate() {
        let sel = i == form.cursor;
        let value = match &f.value {
            FieldValue::Text(s) if sel => format!("{s}▏"),
            FieldValue::Text(s) => s.clone(),
            FieldValue::Flag(b) => if *b { "[x] on" } else { "[ ] off" }.to_string(),
            FieldValue::Choice { options, index } => options
                .iter()
                .enumerate()
                .map(|(j, o)| {
                    if j == *index {
                        format!("<{o}>")
                    } else {
                        o.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mut spans = vec![
            Span::raw(if sel { MARK_SELECTED } else { "  " }),
            Span::styled(
                format!("{:<9} ", f.id.label()),
                if sel {
                    theme.selected(true)
                } else {
                    theme.header()
                },
            ),
            Span::raw(format!("{value:<20}")),
        ];
        let mut below = None;
        if let Some(e) = &f.error {
            let room = w.saturating_sub(2 + 10 + value.chars().count().max(20) + 3);
            if e.chars().count() <= room {
                spans.push(Span::styled(format!(" {MARK_ERROR} {e}"), theme.error()));
            } else {
                // Too long to sit beside the value: right under it.
                below = Some(Line::styled(
                    format!("{:12}{MARK_ERROR} {}", "", cut(e, w.saturating_sub(14))),
                    theme.error(),
                ));
            }
        }
        lines.push(Line::from(spans));
        lines.extend(below);
    }
    lines.push(Line::raw(""));
    if let Some(e) = &form.error {
        lines.push(Line::styled(format!("{MARK_ERROR} {e}"), theme.error()));
    }
    let keys = &model.keys;
    let first = |a: FormAction| keys.form_labels(a).first().cloned().unwrap_or_default();
    let toggle = keys.form_labels(FormAction::Toggle);
    let status = if form.is_valid() {
        Line::styled(
            format!(
                "valid · {} creates it · {}{} fields · {}/{}{} flips · {} cancels",
                first(FormAction::Submit),
                first(FormAction::Prev),
                first(FormAction::Next),
                toggle.first().cloned().unwrap_or_default(),
                first(FormAction::ToggleBack),
                toggle.get(1).cloned().unwrap_or_default(),
                first(FormAction::Cancel),
            ),
            theme.filter(),
        )
    } else {
        Line::styled(
            format!(
                "{MARK_ERROR} not created until every field is valid · {} cancels",
                first(FormAction::Cancel)
            ),
            theme.warning(),
        )
    };
    lines.push(status);
    let rect = centred(area, 96, lines.len() as u16 + 2);
    boxed(
        frame,
        model,
        rect,
        &format!("New {} container", form.mode),
        lines,
    );
}
