//! A pairing QR code drawn as SVG in the page.

use leptos::prelude::*;
use qrcode::{EcLevel, QrCode, render::svg};

/// The code as an inline SVG document, or why it cannot be drawn.
pub fn qr_svg(payload: &str) -> Result<String, String> {
    // Medium error correction, as WhatsApp's own codes use: survives a smudged screen.
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .map_err(|e| format!("cannot draw this code as QR: {e}"))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#111111"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Inline SVG needs no XML declaration.
    Ok(image.find("<svg").map_or(image.clone(), |start| image[start..].to_owned()))
}

/// The QR code of `payload` with an accessible name, replaced whenever the payload changes.
#[component]
pub fn QrImage(
    #[prop(into)] payload: Signal<String>,
    #[prop(into)] label: String,
) -> impl IntoView {
    let drawn = Memo::new(move |_| payload.with(|p| qr_svg(p)));
    view! {
        {move || match drawn.get() {
            Ok(svg) => view! {
                <div class="qr" role="img" aria-label=label.clone() data-testid="qr-code"
                    data-payload=payload.get() inner_html=svg></div>
            }.into_any(),
            Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::qr_svg;

    #[test]
    fn draws_an_inline_svg() {
        let svg = qr_svg("2@abcdef,ghijkl,mnopqr").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("#111111"));
        assert!(svg.ends_with("</svg>"));
        // Another payload, another picture.
        assert_ne!(svg, qr_svg("2@other").unwrap());
    }
}
