"""The words members type, per command, in French, Arabic, Tamazight, Darija and English.

Words are written here as people write them; matching normalizes both sides (case, accents,
Arabic hamzas and diacritics, ة/ه, ى/ي), so ``ARRÊT``, ``arret`` and ``Arret`` are one entry.
Darija is written in Latin letters with digits for Arabic sounds (``3`` for ع, ``7`` for ح).
The README's "SMS commands" section documents this table: keep them in step.
"""

from __future__ import annotations

#: A keyword this long or longer is still recognised with one typo; shorter ones must be exact
#: (``SOLD`` is not ``STOP``, and a one-letter slip must never stop a member's alerts).
TYPO_MIN_LENGTH = 4

#: Commands a slip of the thumb must not trigger: a misspelt STOP is read as STOP only when it
#: is not also one typo away from another command's keyword, whatever that keyword's length.
GUARDED_COMMANDS = frozenset({"stop"})

#: Command name -> the words that start it.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "help": (
        "AIDE", "HELP", "MENU", "INFO", "AIDEZ",
        "مساعدة", "مساعده", "ساعدني",
        "3AWNI", "3AWEN", "MOUSA3ADA",
        "TAWSNA", "AWS",
    ),
    "stock": (
        "STOCK", "STOK", "STOCKS",
        "مخزون", "المخزون", "السطوك", "ستوك",
        "SELA3", "SL3A", "LKHZIN",
        "TAGHULIT", "LMAKHZAN", "LMAKHAZN",
    ),
    "price": (
        "PRIX", "TARIF", "TARIFS", "PRICE", "PRICES",
        "ثمن", "الثمن", "سعر", "السعر", "الاثمنة", "ثمان", "سومة", "السومة",
        "TAMAN", "TAMANE", "SOUMA", "SOMA",
        "ATIG", "ATIGN",
    ),
    "delivery": (
        "LIVRAISON", "LIVRE", "LIVRER", "LIVR", "DELIVERY", "DELIVER",
        "تسليم", "توصيل", "جبت", "سلمت",
        "JBT", "JBET", "JIBT", "SLLAMT", "TASLIM",
        "AWIGH", "USIGH", "TAWURI",
    ),
    "balance": (
        "SOLDE", "COMPTE", "BALANCE",
        "رصيد", "الرصيد", "حسابي", "الحساب", "فلوسي",
        "HSAB", "HSABI", "FLOUS", "FLOUSI", "FLOUSSI",
        "IDRIMN", "IDRIMEN", "LHSAB", "LHQQ",
    ),
    "order": (
        "COMMANDE", "COMMANDES", "CMD", "ORDER", "ORDERS",
        "طلب", "طلبية", "الطلب", "الطلبية", "كوموند",
        "TALABIYA", "KOMONDA", "KOMANDA",
        "TASUTLT", "TALBIYT", "TALBIYIN",
    ),
    "language": (
        "LANGUE", "LANG", "LANGUAGE", "LANGAGE",
        "لغة", "اللغة", "لغتي",
        "LOUGHA", "LOGHA",
        "TUTLAYT", "TOUTLAYT",
    ),
    "stop": (
        "STOP", "ARRET", "ARRETER", "DESABONNER", "UNSUBSCRIBE", "STOPALL", "CANCEL", "QUIT",
        "END",
        "توقف", "وقف", "أوقف", "حبس", "بركة",
        "BARAKA", "7BES", "HBES", "HBS", "WE9EF", "WA9AF",
    ),
    "start": (
        "START", "DEBUT", "DEMARRER", "REPRENDRE", "ABONNER", "SUBSCRIBE", "UNSTOP", "RESUME",
        "ابدأ", "ابدا", "بداية", "رجع", "استئناف",
        "BDA", "BDA2", "RJE3", "RJA3",
        "BDU",
    ),
    # An alert is urgent: it passes quiet hours (a flood tonight).
    "alert": (
        "ALERTE", "ALERT",
        "تنبيه", "انذار", "إنذار",
        "TANBIH",
        "ASSIWEL", "AHDAR",
    ),
    # A notice is the same alert, not urgent: sent in quiet hours, it waits for their end
    # (a meeting on Saturday). Announcement words, which nobody types for a flood.
    "notice": (
        "AVIS", "ANNONCE", "NOTICE", "ANNOUNCE",
        "اعلان", "إعلان",
        "I3LAN",
        "ALGHU",
    ),
    "vote": (
        "VOTE", "VOTER", "VOTES",
        "تصويت", "التصويت", "صوت",
        "TASWIT", "SAWWT",
        "AFRAN",
    ),
    "yes": ("OUI", "YES", "OK", "نعم", "اه", "واخا", "WAH", "IYEH", "EYEH", "WAKHA", "IH", "YAH"),
    "no": ("NON", "NO", "لا", "لالا", "LA", "LALA", "UHU", "OHO", "ALA"),
}

#: Answers after COMMANDE <id> (and to confirm an alert): yes/no in every language.
ANSWERS: dict[str, tuple[str, ...]] = {
    "yes": KEYWORDS["yes"] + ("CONFIRMER", "CONFIRME", "ACCEPTER", "ACCEPTE", "VALIDER",
                              "قبول", "موافق", "تأكيد"),
    "no": KEYWORDS["no"] + ("REFUSER", "REFUSE", "REJETER", "ANNULER", "رفض", "الغاء"),
}

#: What a member may write after LANGUE.
LANGUAGE_WORDS: dict[str, tuple[str, ...]] = {
    "fr": ("FR", "FRANCAIS", "FRANÇAIS", "FRENCH", "FRANSAWIYA", "فرنسية", "الفرنسية", "1"),
    "ar": ("AR", "ARABE", "ARABIC", "3ARABIYA", "DARIJA", "عربية", "العربية", "الدارجة", "2"),
    "zgh": ("ZGH", "TAMAZIGHT", "AMAZIGH", "TACHELHIT", "TASHELHIT", "CHLEUH", "CHELHA",
            "TACHLHIT", "ⵜⴰⵎⴰⵣⵉⵖⵜ", "الامازيغية", "امازيغية", "تمازيغت", "الشلحة", "3"),
    "en": ("EN", "ENGLISH", "ANGLAIS", "INGLIZIYA", "انجليزية", "الانجليزية", "4"),
}

#: Units members write after a quantity; ignored when matching the product.
UNIT_WORDS = ("L", "LITRE", "LITRES", "LITER", "LITERS", "LT", "KG", "KGS", "KILO", "KILOS",
              "K", "لتر", "ليتر", "لترات", "كيلو", "كلغ", "كغ", "كيلوغرام", "TLITRAT")

#: Little words between a keyword, a quantity and a product (``5 litres d'huile``).
FILLER_WORDS = ("DE", "D", "DU", "DES", "LA", "LE", "L", "N", "OF", "THE", "من", "ديال", "DYAL",
                "DIAL")
