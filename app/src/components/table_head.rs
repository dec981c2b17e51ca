//! The header of the dashboard's tables.

use leptos::prelude::*;

/// A `<thead>` naming `columns`, then an unlabelled last column (named for screen readers)
/// for each row's buttons.
#[component]
pub fn TableHead(columns: &'static [&'static str]) -> impl IntoView {
    view! {
        <thead>
            <tr>
                {columns.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}
                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr>
        </thead>
    }
}
