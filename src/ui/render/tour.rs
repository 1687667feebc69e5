//! The tour panel at the bottom: the step, what the post shows, what to look at, and keys
//! (the ones in use, remaps included).

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::app::{Model, Tab};
use crate::ui::keys::{Action, TourAction};
use crate::ui::tour::{StepKind, STEPS};

/// The panel's height (0 without a tour).
pub fn height(model: &Model) -> u16 {
    if model.bench.tour.is_some() {
        8
    } else {
        0
    }
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let Some(t) = &model.bench.tour else {
        return;
    };
    let theme = &model.theme;
    let keys = &model.keys;
    let step = t.current();
    // One paragraph, wrapped to the panel's width.
    let text: Vec<&str> = step
        .text
        .iter()
        .copied()
        .filter(|l| !l.is_empty())
        .collect();
    let mut lines: Vec<Line> = vec![Line::raw(text.join(" "))];
    let state = if let Some(n) = &t.note {
        Line::styled(format!("» {n}"), theme.path())
    } else if t.probed {
        Line::styled(format!("» look: {}", step.look), theme.path())
    } else if t.built {
        Line::styled("» built; probing…", theme.dim())
    } else {
        Line::styled(
            format!(
                "» {} builds this step's containers and runs the probes",
                keys.tour_keys(TourAction::Build)
            ),
            theme.dim(),
        )
    };
    lines.push(state);
    if step.kind == StepKind::Bridge && t.built {
        // The post's point: docker0 and its NAT rule, as the host's inventory has it.
        if let Some(rule) = host_masquerade(model) {
            lines.push(Line::styled(
                format!("» NAT on the host: {rule}"),
                theme.path(),
            ));
        }
    }
    let last = t.step + 1 == STEPS.len();
    lines.push(Line::styled(
        format!(
            "{}: build+probe  {}: {}  {}: explain  {}: matrix  {}: path  {}: leave",
            keys.tour_keys(TourAction::Build),
            keys.tour_keys(TourAction::Next),
            if last { "finish" } else { "next step" },
            keys.first_key(Action::Open),
            keys.first_key(Action::GoTab(Tab::Matrix.index())),
            keys.first_key(Action::GoTab(Tab::Lab.index())),
            keys.tour_keys(TourAction::Leave),
        ),
        theme.dim(),
    ));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .border_style(theme.border(true))
                .title(format!(" Tour of the study post · {} ", step.title)),
        ),
        area,
    );
}

/// The masquerade rule in the lab host's live inventory.
fn host_masquerade(model: &Model) -> Option<String> {
    let host = model.bench.lab.as_ref()?.host_ns.name()?.to_string();
    let inv = model
        .namespaces
        .iter()
        .find(|e| e.netns.name == host)?
        .inventory
        .as_ref()?;
    inv.nat
        .iter()
        .find(|r| r.rule.to_lowercase().contains("masquerade"))
        .map(|r| format!("{} {}: {}", r.table, r.chain, r.rule))
}
