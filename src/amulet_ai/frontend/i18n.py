"""Every label of the page, in Thai and in English.

Thai is the default. Names of amulet types are not here: they come from the API (the model's
metadata), so a retrained model with new types needs no change to the page. What the page
says about a failure is in :mod:`amulet_ai.frontend.failures`, keyed by the API's error code.

Example::

    >>> text("upload_front", "en")
    'Front photo'
    >>> text("upload_limit", "th", limit="20 MB")
    'JPG, PNG, WebP หรือ HEIC ไม่เกิน 20 MB ต่อรูป'
"""

from __future__ import annotations

from typing import Final, Literal

Language = Literal["th", "en"]
DEFAULT_LANGUAGE: Final[Language] = "th"
# Each language named in itself: "English" is English by nature, also on the Thai page.
LANGUAGE_NAMES: Final[dict[Language, str]] = {"th": "ไทย", "en": "English"}

LABELS: Final[dict[str, dict[Language, str]]] = {
    "page_title": {"th": "Amulet-AI: จำแนกพระเครื่อง", "en": "Amulet-AI: amulet classifier"},
    "intro": {
        "th": "ถ่ายหรืออัปโหลดรูปด้านหน้าของพระเครื่อง แล้วระบบจะบอกว่าเป็นพระประเภทใด",
        "en": "Take or upload a photo of the front of an amulet to learn which type it is.",
    },
    "language": {"th": "ภาษา", "en": "Language"},
    # --- the photos
    "camera": {"th": "ถ่ายรูปด้านหน้า", "en": "Take a photo of the front"},
    "upload_front": {"th": "รูปด้านหน้า", "en": "Front photo"},
    "upload_back": {"th": "รูปด้านหลัง (ไม่บังคับ)", "en": "Back photo (optional)"},
    "choose_photo": {"th": "เลือกรูป", "en": "Choose a photo"},
    "open_camera": {"th": "เปิดกล้อง", "en": "Open the camera"},
    "drop_here": {"th": "ลากรูปมาวางที่นี่", "en": "Drop a photo here"},
    "upload_limit": {
        "th": "JPG, PNG, WebP หรือ HEIC ไม่เกิน {limit} ต่อรูป",
        "en": "JPG, PNG, WebP or HEIC, up to {limit} per photo",
    },
    "file_too_large": {"th": "รูปนี้ใหญ่เกิน {limit}", "en": "This photo is larger than {limit}"},
    "front": {"th": "ด้านหน้า", "en": "Front"},
    "back": {"th": "ด้านหลัง", "en": "Back"},
    "nothing_uploaded": {
        "th": "กรุณาอัปโหลดหรือถ่ายรูปด้านหน้าของพระเครื่องเพื่อเริ่มต้น",
        "en": "Upload or take a photo of the front of the amulet to begin.",
    },
    "classifying": {"th": "กำลังวิเคราะห์รูป...", "en": "Analysing the photo..."},
    # --- the verdict
    "confidence": {"th": "ความมั่นใจ", "en": "Confidence"},
    "band_very_likely": {"th": "น่าจะใช่มาก", "en": "Very likely"},
    "band_likely": {"th": "น่าจะใช่", "en": "Likely"},
    "band_not_sure": {"th": "ไม่แน่ใจ", "en": "Not sure"},
    "details": {"th": "ความน่าจะเป็นและรายละเอียด", "en": "Probability and details"},
    "calibrated": {
        "th": "ความน่าจะเป็นที่ปรับเทียบแล้ว: {percent}",
        "en": "Calibrated probability: {percent}",
    },
    "bands_explained": {
        "th": "คำบอกความมั่นใจมาจากความน่าจะเป็นที่ปรับเทียบแล้ว: “น่าจะใช่มาก” ตั้งแต่ {very}% "
        "ขึ้นไป, “น่าจะใช่” ตั้งแต่ {likely}%, ต่ำกว่านั้น “ไม่แน่ใจ” "
        "ระบบไม่แสดง 100% เพราะไม่มีโมเดลใดแน่ใจได้ทั้งหมด",
        "en": "The words come from the calibrated probability: “very likely” from {very}% up, "
        "“likely” from {likely}%, below that “not sure”. No model is ever certain, so 100% "
        "is never shown.",
    },
    "candidates": {"th": "ประเภทที่ใกล้เคียงที่สุด", "en": "Closest types"},
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
    "unknown_front": {
        "th": "ระบบไม่รู้จักด้านหน้า ด้านหลังเท่านั้นที่ตรงกับประเภทที่รู้จัก",
        "en": "The front was not recognised; only the back matches a known type.",
    },
    "unknown_back": {
        "th": "ระบบไม่รู้จักด้านหลัง ด้านหน้าเท่านั้นที่ตรงกับประเภทที่รู้จัก",
        "en": "The back was not recognised; only the front matches a known type.",
    },
    "unknown_both": {
        "th": "ระบบไม่รู้จักทั้งด้านหน้าและด้านหลัง",
        "en": "Neither the front nor the back was recognised.",
    },
    "sides_agree": {
        "th": "ทั้งสองด้านตรงกัน: เป็นประเภทเดียวกัน",
        "en": "Both sides agree: the same type.",
    },
    "sides_disagree": {
        "th": "สองด้านไม่ตรงกัน: ด้านหน้าเหมือน {front} ด้านหลังเหมือน {back}",
        "en": "The two sides disagree: the front looks like {front}, the back like {back}.",
    },
    "per_side": {"th": "ผลแยกตามด้าน", "en": "Result for each side"},
    "side_unknown": {"th": "ไม่รู้จัก", "en": "Not recognised"},
    "show_heatmap": {"th": "แสดงจุดที่โมเดลสนใจ", "en": "Show where the model looked"},
    "heatmap_caption": {
        "th": "{side}: จุดที่โมเดลสนใจ",
        "en": "{side}: where the model looked",
    },
    # Under the heatmap in the judged picture's place: what it is drawn on.
    "heatmap_on_crop": {
        "th": "ส่วนที่ใช้ตัดสิน กับจุดที่โมเดลสนใจ",
        "en": "Judged crop: where the model looked",
    },
    "heatmap_on_photo": {
        "th": "ทั้งรูป กับจุดที่โมเดลสนใจ",
        "en": "Whole photo: where the model looked",
    },
    "retry": {"th": "ลองใหม่", "en": "Try again"},
    # --- where the amulet was found, and how to retake a photo that could not be judged
    "found_caption": {
        "th": "กรอบสีเหลืองคือตรงที่พบองค์พระ ภาพเล็กคือส่วนที่ระบบใช้ตัดสิน",
        "en": "The yellow box is where the amulet was found; the small picture is the part "
        "that was judged.",
    },
    "found_heatmap_caption": {
        "th": "กรอบสีเหลืองคือตรงที่พบองค์พระ ภาพเล็กคือส่วนที่ระบบใช้ตัดสิน ระบายสีตรงจุดที่โมเดลสนใจ",
        "en": "The yellow box is where the amulet was found; the small picture is the part "
        "that was judged, coloured where the model looked.",
    },
    "filled_caption": {
        "th": "กรอบสีเหลืองคือตรงที่พบองค์พระ องค์พระเต็มรูปแล้ว ระบบจึงใช้ทั้งรูปตัดสิน "
        "ภาพเล็กคือส่วนกลางของรูปที่ระบบอ่าน",
        "en": "The yellow box is where the amulet was found; it fills the photo, so the photo "
        "was judged whole: the small picture is the square the model read.",
    },
    "filled_heatmap_caption": {
        "th": "กรอบสีเหลืองคือตรงที่พบองค์พระ องค์พระเต็มรูปแล้ว ระบบจึงใช้ทั้งรูปตัดสิน "
        "ภาพเล็กคือส่วนกลางของรูปที่ระบบอ่าน ระบายสีตรงจุดที่โมเดลสนใจ",
        "en": "The yellow box is where the amulet was found; it fills the photo, so the photo "
        "was judged whole: the small picture is the square the model read, coloured "
        "where the model looked.",
    },
    "found_greyed_caption": {
        "th": "กรอบสีเหลืองคือตรงที่พบองค์พระ ภาพเล็กคือส่วนที่ระบบใช้ตัดสิน "
        "ส่วนสีเทาในภาพเล็กคือส่วนที่โมเดลไม่ได้นำมาพิจารณา",
        "en": "The yellow box is where the amulet was found; the small picture is the part "
        "that was judged, and the grey in it is what the model ignored.",
    },
    "retake_found_caption": {
        "th": "กรอบสีเหลืองคือตรงที่พบองค์พระ",
        "en": "The yellow box is where the amulet was found.",
    },
    "crop_caption": {"th": "ส่วนที่ใช้ตัดสิน", "en": "Judged"},
    "whole_caption": {
        "th": "ใช้ทั้งรูปตามที่ส่งมา ไม่ได้ค้นหาองค์พระในรูป",
        "en": "The photo was judged whole, as sent: the amulet was not looked for.",
    },
    "whole_heatmap_caption": {
        "th": "ใช้ทั้งรูปตามที่ส่งมา ไม่ได้ค้นหาองค์พระในรูป ภาพเล็กคือส่วนกลางของรูปที่ระบบอ่าน "
        "ระบายสีตรงจุดที่โมเดลสนใจ",
        "en": "The photo was judged whole, as sent: the amulet was not looked for. The small "
        "picture is the square the model read, coloured where the model looked.",
    },
    "retake_no_amulet_title": {"th": "ไม่เห็นองค์พระในรูปนี้", "en": "No amulet found in this photo"},
    "retake_no_amulet": {
        "th": "วางพระให้เห็นทั้งองค์อยู่ในกรอบภาพ บนพื้นเรียบ ๆ สีเดียว แล้วถ่ายใหม่อีกครั้ง",
        "en": "Put the whole amulet in the frame, on a plain surface, and take the photo again.",
    },
    "retake_too_small_title": {
        "th": "องค์พระในรูปเล็กเกินไป",
        "en": "The amulet is too small in this photo",
    },
    "retake_too_small": {
        "th": "ขยับกล้องเข้าไปใกล้ ๆ ให้องค์พระเต็มกรอบภาพเกือบทั้งหมด แล้วถ่ายใหม่",
        "en": "Move closer so the amulet fills most of the frame, then take the photo again.",
    },
    "retake_too_blurred_title": {
        "th": "รูปไม่ชัด องค์พระเบลอเกินกว่าจะดูออก",
        "en": "The photo is too blurred to judge",
    },
    "retake_too_blurred": {
        "th": "ถือมือถือให้นิ่ง แตะที่องค์พระบนจอให้กล้องโฟกัสก่อนกดถ่าย และถ่ายในที่ที่แสงพอ",
        "en": "Hold the phone still and tap the amulet on the screen to focus before you take "
        "the photo; good light helps.",
    },
    "retake_side": {"th": "{side}: {title}", "en": "{side}: {title}"},
    "retake_no_verdict": {
        "th": "ระบบจึงยังไม่บอกว่าเป็นพระประเภทใด",
        "en": "So no type is named for this photo.",
    },
    "retake_tight_crop": {
        "th": "ถ้ารูปนี้ครอปมาเฉพาะองค์พระแล้ว ปิด “ค้นหาองค์พระในรูป” ได้ใน “เกี่ยวกับระบบ” ด้านล่าง",
        "en": "If this photo is already cropped to the amulet, turn off “Find the amulet in "
        "the photo” under “About this service” below.",
    },
    "locate": {"th": "ค้นหาองค์พระในรูป", "en": "Find the amulet in the photo"},
    "locate_auto": {"th": "ค้นหาให้อัตโนมัติ", "en": "Automatically"},
    "locate_off": {
        "th": "ไม่ต้องค้นหา รูปของฉันครอปเฉพาะองค์พระแล้ว",
        "en": "Off: my photos are already cropped to the amulet",
    },
    # --- history and catalog
    "history": {"th": "ประวัติในรอบการใช้งานนี้", "en": "This session's history"},
    "history_empty": {"th": "ยังไม่มีประวัติ", "en": "No results yet"},
    "history_both_sides": {"th": "หน้าและหลัง", "en": "front and back"},
    "history_front_only": {"th": "ด้านหน้า", "en": "front"},
    "clear_history": {"th": "ล้างประวัติ", "en": "Clear history"},
    "catalog": {"th": "ประเภทพระเครื่องที่รู้จัก", "en": "Known amulet types"},
    "catalog_unavailable": {
        "th": "ยังโหลดรายการประเภทไม่ได้",
        "en": "The list of types could not be loaded yet.",
    },
    # --- the tabs and saved work (the API's history and collection)
    "tab_classify": {"th": "จำแนกพระ", "en": "Classify"},
    "tab_history": {"th": "ประวัติการตรวจ", "en": "My checks"},
    "tab_collection": {"th": "คอลเลกชันของฉัน", "en": "My collection"},
    "saved_unavailable": {
        "th": "ขณะนี้บันทึกงานไม่ได้ เซิร์ฟเวอร์ไม่มีฐานข้อมูลหรือติดต่อฐานข้อมูลไม่ได้",
        "en": "Saved work is not available right now: the server has no database or "
        "cannot reach it.",
    },
    "history_off": {
        "th": "เซิร์ฟเวอร์นี้ไม่เก็บประวัติการตรวจ",
        "en": "This server does not keep a history of checks.",
    },
    "photos_not_kept": {
        "th": "เซิร์ฟเวอร์นี้เก็บเฉพาะผลการตรวจ ไม่เก็บรูปถ่าย ประวัติจึงไม่มีรูป",
        "en": "This server keeps only the answers, not the photos, so the history has no pictures.",
    },
    "saved_history_empty": {"th": "ยังไม่มีการตรวจที่บันทึกไว้", "en": "No saved checks yet"},
    "saved_history_failed": {
        "th": "โหลดประวัติการตรวจไม่ได้",
        "en": "The saved checks could not be loaded.",
    },
    "saved_as_history": {
        "th": "บันทึกผลนี้ไว้ในประวัติการตรวจแล้ว",
        "en": "This answer is saved in your checks.",
    },
    "when_saved": {"th": "ตรวจเมื่อ {when}", "en": "Checked {when}"},
    "delete": {"th": "ลบ", "en": "Delete"},
    "show_older": {"th": "แสดงรายการก่อนหน้า", "en": "Show older ones"},
    "deleted": {"th": "ลบแล้ว", "en": "Deleted"},
    "no_photo_kept": {"th": "ไม่มีรูป", "en": "No photo"},
    "you_said_wrong_type": {"th": "คุณแจ้งว่าเป็น: {name}", "en": "You said it is: {name}"},
    "you_said_right": {"th": "คุณยืนยันว่าผลนี้ถูกต้อง", "en": "You confirmed this answer."},
    # --- "this answer is wrong"
    "wrong_answer": {"th": "ผลนี้ไม่ถูกต้อง", "en": "This answer is wrong"},
    "right_type": {"th": "ประเภทที่ถูกต้อง", "en": "The right type"},
    "another_type": {"th": "ประเภทอื่น (พิมพ์ชื่อเอง)", "en": "Another type (type its name)"},
    "another_type_name": {"th": "ชื่อประเภทอื่น", "en": "Name of the other type"},
    "send_correction": {"th": "ส่งการแก้ไข", "en": "Send the correction"},
    "correction_needs_name": {
        "th": "กรุณาพิมพ์ชื่อประเภทอื่น",
        "en": "Please type the name of the other type.",
    },
    "correction_sent": {
        "th": "ขอบคุณ บันทึกการแก้ไขแล้ว",
        "en": "Thank you, the correction is saved.",
    },
    # --- the collection
    "save_to_collection": {"th": "บันทึกเข้าคอลเลกชันของฉัน", "en": "Save to my collection"},
    "piece_name": {"th": "ชื่อพระ (ไม่บังคับ)", "en": "Name (optional)"},
    "piece_notes": {"th": "บันทึก (ไม่บังคับ)", "en": "Notes (optional)"},
    "save_piece": {"th": "บันทึก", "en": "Save"},
    "piece_saved": {
        "th": "บันทึก “{name}” เข้าคอลเลกชันแล้ว",
        "en": "“{name}” is saved in your collection.",
    },
    "collection_empty": {
        "th": "ยังไม่มีพระในคอลเลกชัน บันทึกได้จากใต้ผลการจำแนก",
        "en": "No pieces yet: save one from under a result.",
    },
    "collection_failed": {
        "th": "โหลดคอลเลกชันไม่ได้",
        "en": "The collection could not be loaded.",
    },
    "piece_answer": {"th": "ผลการจำแนก: {name}", "en": "Classified as: {name}"},
    "piece_confirmed": {"th": "ประเภทที่ยืนยัน: {name}", "en": "Confirmed type: {name}"},
    # --- "closest in your collection" and your own types
    "closest": {"th": "ใกล้เคียงที่สุดในคอลเลกชันของคุณ", "en": "Closest in your collection"},
    "closest_none": {
        "th": "ยังไม่มีรูปของคุณที่จะเทียบได้",
        "en": "None of your photos to compare with yet.",
    },
    "closest_none_alike": {
        "th": "ยังไม่มีรูปที่คล้ายกันในคอลเลกชันของคุณ",
        "en": "Nothing alike in your collection yet.",
    },
    "closest_no_type": {"th": "ไม่ทราบประเภท", "en": "Type not known"},
    "kind_piece": {"th": "พระในคอลเลกชัน", "en": "A piece in your collection"},
    "kind_history": {"th": "การตรวจก่อนหน้า", "en": "An earlier check"},
    "kind_type": {"th": "ประเภทที่คุณเพิ่ม", "en": "A type you added"},
    "tab_types": {"th": "ประเภทของฉัน", "en": "My types"},
    "types_intro": {
        "th": "สอนระบบให้รู้จักพระประเภทใหม่จากรูป 3 ถึง 50 รูป โดยไม่ต้องฝึกโมเดลใหม่",
        "en": "Teach the system a new type from 3 to 50 photos, without retraining the model.",
    },
    "types_none": {"th": "ยังไม่มีประเภทที่คุณเพิ่ม", "en": "No types of your own yet"},
    "types_failed": {"th": "โหลดรายการประเภทของคุณไม่ได้", "en": "Your types could not be loaded."},
    "type_photo_count": {"th": "{count} รูป", "en": "{count} photos"},
    "add_type": {"th": "เพิ่มประเภท", "en": "Add a type"},
    "type_name_en": {"th": "ชื่อภาษาอังกฤษ", "en": "English name"},
    "type_name_th": {"th": "ชื่อภาษาไทย (ไม่บังคับ)", "en": "Thai name (optional)"},
    "type_description": {"th": "คำอธิบาย (ไม่บังคับ)", "en": "Description (optional)"},
    "type_photos": {
        "th": "รูปของพระประเภทนี้ ด้านหน้าหรือด้านหลัง 3 ถึง 50 รูป",
        "en": "Photos of this type, fronts or backs, 3 to 50",
    },
    "type_preview": {"th": "รูปที่เลือก ({count} รูป)", "en": "The photos chosen ({count})"},
    "type_needs_name": {"th": "กรุณาใส่ชื่อภาษาอังกฤษ", "en": "Please give the English name."},
    "type_needs_photos": {
        "th": "ต้องมีรูปที่ใช้ได้อย่างน้อย 3 รูป",
        "en": "At least 3 usable photos are needed.",
    },
    "type_name_taken": {
        "th": "มีประเภทชื่อนี้อยู่แล้ว กรุณาใช้ชื่ออื่น",
        "en": "A type of that name exists already. Please choose another name.",
    },
    "type_added": {
        "th": "เพิ่มประเภท “{name}” จาก {count} รูปแล้ว",
        "en": "The type “{name}” is added from {count} photos.",
    },
    "type_rejected": {"th": "รูปที่ไม่ได้ใช้", "en": "Photos not used"},
    "reason_unreadable": {"th": "อ่านรูปไม่ได้", "en": "cannot be read"},
    "reason_not_an_amulet": {
        "th": "ไม่เหมือนรูปพระเครื่องที่รู้จัก",
        "en": "unlike any known amulet photo",
    },
    "reason_duplicate": {"th": "รูปซ้ำ", "en": "the same photo twice"},
    # --- about: the operator's details, folded away
    "about": {"th": "เกี่ยวกับระบบ", "en": "About this service"},
    "api_url": {"th": "ที่อยู่เซิร์ฟเวอร์", "en": "Server address"},
    "status": {"th": "สถานะ", "en": "Status"},
    "status_ok": {"th": "พร้อมใช้งาน", "en": "ready"},
    "status_degraded": {"th": "ทำงานได้บางส่วน", "en": "degraded"},
    "status_unavailable": {"th": "ไม่พร้อมใช้งาน", "en": "unavailable"},
    "status_unreachable": {"th": "ติดต่อไม่ได้", "en": "unreachable"},
    "model_version": {"th": "โมเดล", "en": "Model"},
    "model_file": {"th": "ไฟล์โมเดล", "en": "Model file"},
    "refresh_status": {"th": "ตรวจสอบสถานะอีกครั้ง", "en": "Check the status again"},
    "time_taken": {
        "th": "ใช้เวลา {total_ms:.0f} มิลลิวินาที (เซิร์ฟเวอร์ {server_ms:.0f} มิลลิวินาที)",
        "en": "Took {total_ms:.0f} ms (server {server_ms:.0f} ms)",
    },
    "from_session": {
        "th": "ผลนี้มาจากความจำของรอบการใช้งานนี้ ไม่ได้ส่งรูปซ้ำ",
        "en": "This result comes from this session's memory; the photo was not sent again.",
    },
    "from_cache": {
        "th": "เซิร์ฟเวอร์ตอบจากแคชผลลัพธ์",
        "en": "The server answered from its result cache.",
    },
}


def text(key: str, language: Language, **values: object) -> str:
    """The label ``key`` in ``language``, with ``values`` filled in."""
    template = LABELS[key][language]
    return template.format(**values) if values else template


def class_name(name_th: str, name_en: str, language: Language) -> str:
    """A type's name in both languages, the chosen one first."""
    return f"{name_th} ({name_en})" if language == "th" else f"{name_en} ({name_th})"


def megabytes(size_mb: float) -> str:
    """A size for people: ``20 MB``, ``1.5 MB`` (the same in both languages).

    >>> megabytes(20.0), megabytes(1.5), megabytes(0.25)
    ('20 MB', '1.5 MB', '0.25 MB')
    """
    return f"{size_mb:g} MB"
