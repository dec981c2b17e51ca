//! A pairing QR code, drawn as SVG by the server and shown in the page.
//!
//! The browser receives each code's text on the event channel and asks the server to draw
//! it ([`draw_qr`]): the QR encoder stays out of the dashboard's WebAssembly.

use leptos::prelude::*;

use crate::functions::draw_qr;

/// The code as an inline SVG document, or why it cannot be drawn.
#[cfg(feature = "ssr")]
pub fn qr_svg(payload: &str) -> Result<String, String> {
    use qrcode::{EcLevel, QrCode, render::svg};

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

/// The QR code of `payload` with an accessible name. A new payload is drawn by the server;
/// the code on screen stays until its successor arrives, so a rotation never blanks it.
#[component]
pub fn QrImage(
    #[prop(into)] payload: Signal<String>,
    #[prop(into)] label: String,
) -> impl IntoView {
    // With the payload it drew, so the picture and `data-payload` always agree.
    let drawn = LocalResource::new(move || {
        let payload = payload.get();
        async move { draw_qr(payload.clone()).await.map(|svg| (payload, svg)) }
    });
    view! {
        {move || match drawn.get() {
            Some(Ok((payload, svg))) => view! {
                <div class="qr" role="img" aria-label=label.clone() data-testid="qr-code"
                    data-payload=payload inner_html=svg></div>
            }.into_any(),
            Some(Err(e)) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            None => view! { <p class="muted">"Drawing the QR code…"</p> }.into_any(),
        }}
    }
}

#[cfg(all(test, feature = "ssr"))]
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
        // More than a QR code holds is refused with the reason.
        assert!(qr_svg(&"x".repeat(4_000)).unwrap_err().contains("cannot draw"));
    }
}
