"""Every label of the page, in Thai and in English.

Thai is the default. Names of amulet types are not here: they come from the API (the model's
metadata), so a retrained model with new types needs no change to the page.

Example::

    >>> text("upload_front", "en")
    'Front photo (required)'
    >>> text("confidence_value", "en", percent=93.4)
    'Confidence: 93.4%'
"""

from __future__ import annotations

from typing import Final, Literal

Language = Literal["th", "en"]
DEFAULT_LANGUAGE: Final[Language] = "th"
LANGUAGE_NAMES: Final[dict[Language, str]] = {"th": "ไทย", "en": "English"}

LABELS: Final[dict[str, dict[Language, str]]] = {
    "page_title": {"th": "Amulet-AI: จำแนกพระเครื่อง", "en": "Amulet-AI: amulet classifier"},
    "intro": {
        "th": "ถ่ายหรืออัปโหลดรูปด้านหน้าของพระเครื่อง แล้วระบบจะบอกว่าเป็นพระประเภทใด",
        "en": "Take or upload a photo of the front of an amulet to learn which type it is.",
    },
    "language": {"th": "ภาษา", "en": "Language"},
    "upload_front": {"th": "รูปด้านหน้า (จำเป็น)", "en": "Front photo (required)"},
    "upload_back": {"th": "รูปด้านหลัง (ไม่บังคับ)", "en": "Back photo (optional)"},
    "use_camera": {"th": "ถ่ายรูปด้วยกล้อง", "en": "Use the camera"},
    "camera": {"th": "ถ่ายรูปด้านหน้า", "en": "Take a photo of the front"},
    "front": {"th": "ด้านหน้า", "en": "Front"},
    "back": {"th": "ด้านหลัง", "en": "Back"},
    "nothing_uploaded": {
        "th": "กรุณาอัปโหลดหรือถ่ายรูปด้านหน้าของพระเครื่องเพื่อเริ่มต้น",
        "en": "Upload or take a photo of the front of the amulet to begin.",
    },
    "classifying": {"th": "กำลังวิเคราะห์รูป...", "en": "Analysing the photo..."},
    "result": {"th": "ผลการจำแนก", "en": "Result"},
    "confidence_value": {"th": "ความมั่นใจ: {percent:.1f}%", "en": "Confidence: {percent:.1f}%"},
    "top3": {"th": "3 อันดับที่ใกล้เคียงที่สุด", "en": "Top 3 candidates"},
    "probability": {"th": "ความน่าจะเป็น (%)", "en": "Probability (%)"},
    "amulet_type": {"th": "ประเภท", "en": "Type"},
    "show_heatmap": {"th": "แสดงจุดที่โมเดลสนใจ", "en": "Show where the model looked"},
    "heatmap_caption": {
        "th": "{side}: จุดที่โมเดลสนใจ",
        "en": "{side}: where the model looked",
    },
    "unknown_title": {
        "th": "ไม่ใช่พระเครื่องประเภทที่รู้จัก",
        "en": "Not one of the types I know",
    },
    "unknown_body": {
        "th": "รูปนี้ไม่เหมือนพระเครื่องประเภทใดที่ระบบรู้จัก ลองถ่ายใหม่ให้เห็นองค์พระชัดเจน "
        "หรือพระองค์นี้อาจเป็นประเภทที่ระบบยังไม่รู้จัก",
        "en": "This photo is unlike every type the system knows. Try a clearer photo of the "
        "amulet, or it may be a type the system does not know yet.",
    },
    "closest_types": {
        "th": "ประเภทที่ใกล้เคียงที่สุด (เพื่อประกอบเท่านั้น)",
        "en": "Closest known types (for reference only)",
    },
    "per_side": {"th": "ผลแยกตามด้าน", "en": "Result for each side"},
    "side_unknown": {"th": "ไม่รู้จัก", "en": "Unknown"},
    "time_taken": {
        "th": "ใช้เวลา {total_ms:.0f} มิลลิวินาที (เซิร์ฟเวอร์ {server_ms:.0f} มิลลิวินาที)",
        "en": "Took {total_ms:.0f} ms (server {server_ms:.0f} ms)",
    },
    "from_session": {
        "th": "ผลนี้มาจากความจำของรอบการใช้งานนี้ ไม่ได้ส่งรูปซ้ำ",
        "en": "This result comes from this session's memory; the photo was not sent again.",
    },
    "api_down": {
        "th": "ติดต่อเซิร์ฟเวอร์ไม่ได้ในขณะนี้ กรุณาลองใหม่อีกครั้ง",
        "en": "The server cannot be reached right now. Please try again.",
    },
    "api_slow": {
        "th": "เซิร์ฟเวอร์ตอบช้าเกินไป กรุณาลองใหม่อีกครั้ง",
        "en": "The server took too long to answer. Please try again.",
    },
    "api_paused": {
        "th": "ติดต่อเซิร์ฟเวอร์ไม่ได้หลายครั้งติดกัน ระบบจึงหยุดส่งคำขอชั่วคราว กรุณาลองใหม่ในอีกสักครู่",
        "en": "The server could not be reached several times in a row, so requests are "
        "paused for a moment. Please try again shortly.",
    },
    "api_error": {"th": "เซิร์ฟเวอร์ตอบกลับว่า: {message}", "en": "The server says: {message}"},
    "retry": {"th": "ลองใหม่", "en": "Try again"},
    "history": {"th": "ประวัติในรอบการใช้งานนี้", "en": "This session's history"},
    "history_empty": {"th": "ยังไม่มีประวัติ", "en": "No results yet"},
    "clear_history": {"th": "ล้างประวัติ", "en": "Clear history"},
    "sidebar_api": {"th": "เซิร์ฟเวอร์", "en": "Server"},
    "api_url": {"th": "ที่อยู่ API", "en": "API URL"},
    "status": {"th": "สถานะ", "en": "Status"},
    "status_ok": {"th": "พร้อมใช้งาน", "en": "ready"},
    "status_degraded": {"th": "ทำงานได้บางส่วน", "en": "degraded"},
    "status_unavailable": {"th": "ไม่พร้อมใช้งาน", "en": "unavailable"},
    "status_unreachable": {"th": "ติดต่อไม่ได้", "en": "unreachable"},
    "model_version": {"th": "รุ่นของโมเดล", "en": "Model version"},
    "refresh_status": {"th": "ตรวจสอบสถานะอีกครั้ง", "en": "Check the status again"},
    "catalog": {"th": "ประเภทพระเครื่องที่รู้จัก", "en": "Known amulet types"},
    "catalog_unavailable": {
        "th": "ยังโหลดรายการประเภทไม่ได้",
        "en": "The list of types could not be loaded yet.",
    },
}


def text(key: str, language: Language, **values: object) -> str:
    """The label ``key`` in ``language``, with ``values`` filled in."""
    template = LABELS[key][language]
    return template.format(**values) if values else template


def class_name(name_th: str, name_en: str, language: Language) -> str:
    """A type's name in both languages, the chosen one first."""
    return f"{name_th} ({name_en})" if language == "th" else f"{name_en} ({name_th})"
