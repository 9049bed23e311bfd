"""Replies to SMS commands, per language.

French, English and Tamazight (Latin) replies stay inside GSM-7 (no ê, ç, û or typographic
quotes: one of them would make the SMS cost 2.3 times as much); Arabic is always UCS-2, so its
replies are kept short. A test checks both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

FALLBACK = "fr"

TEXTS: dict[str, dict[str, str]] = {
    "help": {
        "fr": "Commandes: STOCK, PRIX, LIVRAISON <produit> <qte>, SOLDE, LANGUE FR/AR/ZGH/EN, "
              "STOP. Ex: LIVRAISON ARGAN 5",
        "ar": "الأوامر: مخزون، ثمن، تسليم <منتوج> <كمية>، رصيد، لغة، توقف. مثال: تسليم أركان 5",
        "zgh": "Tinaddin: STOCK, ATIG, AWIGH <ayyaw> <mnck>, IDRIMN, TUTLAYT FR/AR/ZGH/EN, "
               "STOP. Am: AWIGH ARGAN 5",
        "en": "Commands: STOCK, PRICE, DELIVERY <product> <qty>, BALANCE, LANGUAGE FR/AR/ZGH/EN,"
              " STOP. Ex: DELIVERY ARGAN 5",
    },
    "help_coordinator": {
        "fr": "Coordinatrice: COMMANDE, COMMANDE <n> OUI/NON, ALERTE <texte>",
        "ar": "للمنسقة: طلب <رقم> نعم/لا، تنبيه <نص>",
        "zgh": "Coordinatrice: COMMANDE <n> IH/UHU, ALERTE <awal>",
        "en": "Coordinator: ORDER, ORDER <n> YES/NO, ALERT <text>",
    },
    "not_understood": {
        "fr": "Message non compris.",
        "ar": "لم نفهم رسالتك.",
        "zgh": "Ur nfhim tabrat nm.",
        "en": "Message not understood.",
    },
    "unknown_number": {
        # Sent to numbers we do not know, whose language we cannot know: French and Arabic.
        "fr": "Numero inconnu. Pour adherer, composez {service_code} ou contactez votre "
              "cooperative. / رقم غير مسجل. للانخراط اطلب {service_code} أو اتصل بتعاونيتك.",
    },
    "stock": {"fr": "Stock: {items}", "ar": "المخزون: {items}", "zgh": "Stock: {items}",
              "en": "Stock: {items}"},
    "price": {
        "fr": "Prix paye aux membres: {items}",
        "ar": "الثمن للمنخرطات: {items}",
        "zgh": "Atig i tmddukal: {items}",
        "en": "Price paid to members: {items}",
    },
    "no_products": {
        "fr": "Aucun produit enregistre.",
        "ar": "لا توجد منتوجات.",
        "zgh": "Ur illi kra n ayyaw.",
        "en": "No products yet.",
    },
    "delivery_recorded": {
        "fr": "Livraison #{id} enregistree: {quantity} {unit} {product}. En attente de "
              "validation.",
        "ar": "تم تسجيل التسليم #{id}: {quantity} {unit} {product}. في انتظار القبول.",
        "zgh": "Tettwarsem twiyyit #{id}: {quantity} {unit} {product}. Ar tettrajut.",
        "en": "Delivery #{id} recorded: {quantity} {unit} {product}. Waiting for approval.",
    },
    "delivery_usage": {
        "fr": "Ecrivez LIVRAISON <produit> <quantite>, ex: LIVRAISON {example} 5. "
              "Produits: {products}",
        "ar": "اكتبي: تسليم <منتوج> <كمية>، مثال: تسليم {example} 5. المنتوجات: {products}",
        "zgh": "Ari: AWIGH <ayyaw> <mnck>, am: AWIGH {example} 5. Ayyawn: {products}",
        "en": "Write DELIVERY <product> <quantity>, e.g. DELIVERY {example} 5. "
              "Products: {products}",
    },
    "unknown_product": {
        "fr": "Produit inconnu: {word}. Produits: {products}",
        "ar": "منتوج غير معروف: {word}. المنتوجات: {products}",
        "zgh": "Ur nssin ayyaw a: {word}. Ayyawn: {products}",
        "en": "Unknown product: {word}. Products: {products}",
    },
    "bad_quantity": {
        "fr": "Quantite invalide: ecrivez un nombre, ex: LIVRAISON {example} 5",
        "ar": "الكمية غير صحيحة: اكتبي رقما، مثال: تسليم {example} 5",
        "zgh": "Mnck ur igi ayd ilan: ari yan wuttun, am: AWIGH {example} 5",
        "en": "Invalid quantity: write a number, e.g. DELIVERY {example} 5",
    },
    "balance": {
        "fr": "Votre solde: {amount} {currency}. Livraisons en attente: {pending}.",
        "ar": "رصيدك: {amount} {currency}. تسليمات في الانتظار: {pending}.",
        "zgh": "Idrimn nm: {amount} {currency}. Tiwiyyin ar tettrajunt: {pending}.",
        "en": "Your balance: {amount} {currency}. Deliveries pending: {pending}.",
    },
    "orders": {
        "fr": "Commandes en attente: {items}. Repondez COMMANDE <n> OUI ou NON",
        "ar": "طلبات في الانتظار: {items}. أجيبي: طلب <رقم> نعم أو لا",
        "zgh": "Tasutlin ar tettrajunt: {items}. Ari COMMANDE <n> IH nagh UHU",
        "en": "Pending orders: {items}. Reply ORDER <n> YES or NO",
    },
    "no_orders": {
        "fr": "Aucune commande en attente.",
        "ar": "لا توجد طلبات في الانتظار.",
        "zgh": "Ur tlli kra n tasutlt ar tettraju.",
        "en": "No pending orders.",
    },
    "order_show": {
        "fr": "Commande #{id}: {quantity} {unit} {product}, {buyer}, {total} {currency}. "
              "Repondez COMMANDE {id} OUI ou NON",
        "ar": "الطلب #{id}: {quantity} {unit} {product}، {buyer}، {total} {currency}. "
              "أجيبي: طلب {id} نعم أو لا",
        "zgh": "Tasutlt #{id}: {quantity} {unit} {product}, {buyer}, {total} {currency}. "
               "Ari COMMANDE {id} IH nagh UHU",
        "en": "Order #{id}: {quantity} {unit} {product}, {buyer}, {total} {currency}. "
              "Reply ORDER {id} YES or NO",
    },
    "order_confirmed": {
        "fr": "Commande #{id} confirmee: {quantity} {unit} {product} pour {buyer}.",
        "ar": "تم تأكيد الطلب #{id}: {quantity} {unit} {product} لـ {buyer}.",
        "zgh": "Tettwasentem tasutlt #{id}: {quantity} {unit} {product} i {buyer}.",
        "en": "Order #{id} confirmed: {quantity} {unit} {product} for {buyer}.",
    },
    "order_rejected": {
        "fr": "Commande #{id} refusee.",
        "ar": "تم رفض الطلب #{id}.",
        "zgh": "Tettwagy tasutlt #{id}.",
        "en": "Order #{id} rejected.",
    },
    "order_not_found": {
        "fr": "Commande #{id} introuvable.",
        "ar": "الطلب #{id} غير موجود.",
        "zgh": "Ur nufi tasutlt #{id}.",
        "en": "Order #{id} not found.",
    },
    "order_already": {
        "fr": "Commande #{id} deja traitee ({status}).",
        "ar": "الطلب #{id} تمت معالجته ({status}).",
        "zgh": "Tasutlt #{id} tettwaskar ({status}).",
        "en": "Order #{id} already decided ({status}).",
    },
    "order_short": {
        "fr": "Stock insuffisant pour la commande #{id}: {available} {unit} disponibles.",
        "ar": "المخزون غير كاف للطلب #{id}: {available} {unit} متوفرة.",
        "zgh": "Stock ur iwdi i tasutlt #{id}: {available} {unit} ka illan.",
        "en": "Not enough stock for order #{id}: {available} {unit} available.",
    },
    "coordinators_only": {
        "fr": "Reserve aux coordinatrices.",
        "ar": "هذا الأمر خاص بالمنسقات.",
        "zgh": "Tanaddant a i coordinatrices ka.",
        "en": "Only coordinators can do this.",
    },
    "language_set": {
        "fr": "Langue: francais.",
        "ar": "اللغة: العربية.",
        "zgh": "Tutlayt: tamazight.",
        "en": "Language: English.",
    },
    "language_usage": {
        "fr": "Ecrivez LANGUE FR, LANGUE AR, LANGUE ZGH ou LANGUE EN.",
        "ar": "اكتبي: لغة FR أو AR أو ZGH أو EN",
        "zgh": "Ari TUTLAYT FR, AR, ZGH nagh EN.",
        "en": "Write LANGUAGE FR, AR, ZGH or EN.",
    },
    "stopped": {
        "fr": "Vous ne recevrez plus d'alertes. Envoyez START pour les recevoir a nouveau.",
        "ar": "لن تتوصلي بالتنبيهات بعد الآن. أرسلي START لاستئنافها.",
        "zgh": "Ur da ttamzt tiwssatin. Azn START ad tnt ttamzt dagh.",
        "en": "You will no longer receive alerts. Send START to receive them again.",
    },
    "started": {
        "fr": "Vous recevrez a nouveau les alertes. Envoyez STOP pour les arreter.",
        "ar": "ستتوصلين بالتنبيهات من جديد. أرسلي STOP لإيقافها.",
        "zgh": "Rad ttamzt tiwssatin dagh. Azn STOP ad tnt tbddt.",
        "en": "You will receive alerts again. Send STOP to stop them.",
    },
    "alert_usage": {
        "fr": "Ecrivez ALERTE suivi du message, ex: ALERTE Reunion demain 10h",
        "ar": "اكتبي: تنبيه ثم الرسالة",
        "zgh": "Ari ALERTE d tabrat, am: ALERTE Amuni azkka 10h",
        "en": "Write ALERT then the message, e.g. ALERT Meeting tomorrow 10am",
    },
    "alert_preview": {
        "fr": "Alerte a {recipients} membres, {segments} SMS chacun, cout estime {cost} "
              "{currency}. Repondez OUI dans les 10 min pour l'envoyer, NON pour annuler.",
        "ar": "تنبيه إلى {recipients} عضوة، {segments} رسالة لكل واحدة، الكلفة {cost} "
              "{currency}. أجيبي نعم خلال 10 دقائق للإرسال.",
        "zgh": "Alerte i {recipients} tmddukal, {segments} SMS, atig {cost} {currency}. "
               "Ari IH gh 10 tusdidin ad tt taznt, UHU ad tt tbbit.",
        "en": "Alert to {recipients} members, {segments} SMS each, estimated cost {cost} "
              "{currency}. Reply YES within 10 min to send it, NO to cancel.",
    },
    "alert_empty_audience": {
        "fr": "Aucun membre ne recevrait cette alerte.",
        "ar": "لا أحد سيتوصل بهذا التنبيه.",
        "zgh": "Ur illi ma ra yamz alerte a.",
        "en": "No member would receive this alert.",
    },
    "alert_sent": {
        "fr": "Alerte #{id} en cours d'envoi a {recipients} membres.",
        "ar": "التنبيه #{id} قيد الإرسال إلى {recipients} عضوة.",
        "zgh": "Alerte #{id} ar tettwazn i {recipients} tmddukal.",
        "en": "Alert #{id} is being sent to {recipients} members.",
    },
    "alert_cancelled": {
        "fr": "Alerte annulee.",
        "ar": "تم إلغاء التنبيه.",
        "zgh": "Tettwabbi alerte.",
        "en": "Alert cancelled.",
    },
    "nothing_pending": {
        "fr": "Rien a confirmer (une alerte se confirme dans les 10 min).",
        "ar": "لا شيء للتأكيد (يؤكد التنبيه خلال 10 دقائق).",
        "zgh": "Ur illi ma ittyasentam (alerte gh 10 tusdidin).",
        "en": "Nothing to confirm (an alert is confirmed within 10 min).",
    },
    "error": {
        "fr": "Erreur, reessayez plus tard.",
        "ar": "خطأ، حاولي لاحقا.",
        "zgh": "Tuccda, arm tikkelt yadni.",
        "en": "Error, please try again later.",
    },
    "too_many": {
        # Sent once when a number passes limits.replies_per_window; then silence for a while.
        "fr": "Trop de messages. Nous ne repondrons plus pendant {minutes} min.",
        "ar": "رسائل كثيرة. لن نرد خلال {minutes} دقيقة.",
        "zgh": "Tuggt n tbratin. Ur da nrrar gh {minutes} tusdidin.",
        "en": "Too many messages. We will not reply for {minutes} min.",
    },
}

#: What SOLDE says while nothing is owed, and status names in replies, per language.
STATUS_NAMES: dict[str, dict[str, str]] = {
    "confirmed": {"fr": "confirmee", "ar": "مؤكد", "zgh": "tettwasentem", "en": "confirmed"},
    "rejected": {"fr": "refusee", "ar": "مرفوض", "zgh": "tettwagy", "en": "rejected"},
    "cancelled": {"fr": "annulee", "ar": "ملغى", "zgh": "tettwabbi", "en": "cancelled"},
    "pending": {"fr": "en attente", "ar": "في الانتظار", "zgh": "ar tettraju", "en": "pending"},
}


def text(key: str, language: str, **values: Any) -> str:
    """The reply ``key`` in ``language`` (French when missing), filled with ``values``."""
    table = TEXTS[key]
    template = table.get(language) or table[FALLBACK]
    return template.format(**values) if values else template


def status_name(status: str, language: str) -> str:
    """An order status as a word of ``language``."""
    names = STATUS_NAMES.get(status, {})
    return names.get(language) or names.get(FALLBACK) or status


def number(value: Decimal | int, language: str) -> str:
    """A quantity or amount without trailing zeros; a decimal comma in French and Tamazight."""
    value = Decimal(value)
    if value == value.to_integral_value():
        written = str(value.quantize(Decimal(1)))
    else:
        written = format(value.normalize(), "f")
    return written.replace(".", ",") if language in ("fr", "zgh") else written
