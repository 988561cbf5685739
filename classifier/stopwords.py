"""Function words of the five corpus languages: real contributions to a score, but no reason an agent can act on.

Top terms leave them out ("mir", "my", "ihr", "su" say nothing about why a ticket went where it went), and
the share of a ticket's words the model knows counts only the others. Lower case, with diacritics, as
classifier.text.normalise leaves words. Written for deskbot.
"""

from __future__ import annotations

from classifier.text import FUNCTION_WORDS as VOTING_WORDS  # those the language vote counts, in 7 languages

_WORDS = {
    "en": """a about above after again against all also am an and any are as at be because been before being below
        between both but by can could did do does doing down during each few for from further had has have having he
        her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
        now of off on once only or other our ours ourselves out over own same she should so some such than that the
        their theirs them themselves then there these they this those through to too under until up very was we were
        what when where which while who whom why will with would you your yours yourself yourselves please thanks
        thank hi hello dear regards kind best sincerely hope well also still already yet however us let lets ve ll
        re don didn doesn isn wasn aren weren couldn wouldn shouldn won cannot im one two get got may might must shall
        many much every another since via per etc within without upon across toward towards among whether though
        although unless whose whatever whenever either neither""",
    "de": """der die das den dem des ein eine einen einem einer eines und oder aber auch als am an auf aus bei bis
        da damit dann dass daß denn doch durch für gegen hat habe haben hatte hatten ich du er sie es wir ihr ihnen
        ihre ihrem ihren ihrer ihres ihm ihn im in ist sind war waren wird werden wurde wurden mit nach nicht noch nur
        ob ohne sein seine seinem seinen seiner sich so um unter über uns unser unsere unserem unseren unserer vom
        von vor was weil wenn wie wo zu zum zur mein meine meinem meinen meiner mir mich dir dich dein deine euch euer
        kann können könnte könnten muss müssen soll sollte sollten will wollen möchte möchten hallo bitte danke dank
        vielen viele freundlichen grüßen grüße liebe lieber sehr geehrte geehrter damen herren gruß schon bereits
        jetzt hier dort diese dieser dieses diesem diesen jede jeder jedes alle alles etwas man einmal gerne gern
        ja nein wieder immer zwischen während wegen trotz seit gegenüber beim ins ans aufs sowie bzw
        usw dabei dazu darum deshalb jedoch sondern""",
    "es": """el la los las lo un una unos unas y o u pero e ni que de del a al en con por para sin sobre entre hasta
        desde como cuando donde mi mis tu tus su sus nuestro nuestra nuestros nuestras vuestro vuestra yo tú él ella
        ello nosotros nosotras vosotros ellos ellas usted ustedes me te se nos os le les es son fue fueron ser estar
        está están estoy estamos he ha han hemos había hay muy más menos ya también tan este esta estos estas ese esa
        esos esas aquel eso esto qué cuál quien quién cual porque pues si sí no hola gracias saludos saludo atentamente
        estimado estimada estimados cordial favor puede pueden podría podrían quisiera quería tengo tiene tienen
        tenemos todo toda todos todas algo alguna alguno otro otra otros mismo durante según mediante
        aunque mientras sino así""",
    "fr": """le la les l un une des du de d et ou mais donc or ni que qu qui quoi dont où à au aux en dans par pour
        sur sous avec sans chez entre vers depuis pendant je j tu il elle on nous vous ils elles me m te t se s lui
        leur leurs mon ma mes ton ta tes son sa ses notre nos votre vos ce c cet cette ces ceci cela ça est sont suis
        sommes êtes était étaient être ai as avons avez ont avait avoir fait faire peut peuvent pouvez pourriez
        pourrait voudrais souhaite ne pas plus très aussi déjà encore bien si oui non bonjour merci cordialement
        salutations madame monsieur cher chère chers mesdames messieurs bonne journée tout toute tous toutes y
        comme quand comment lors selon malgré afin puis lorsque ainsi cependant""",
    "pt": """o a os as um uma uns umas e ou mas nem que de do da dos das em no na nos nas por pelo pela pelos pelas
        para com sem sobre entre até desde como quando onde meu minha meus minhas teu tua seu sua seus suas nosso
        nossa nossos nossas vosso vossa vossos vossas eu tu ele ela nós vós eles elas você vocês me te se lhe lhes
        é são foi foram ser estar está estão estou estamos tenho tem têm temos há havia muito mais menos já também
        tão este esta estes estas esse essa esses essas isso isto aquele aquela qual quem porque pois sim não olá
        oi obrigado obrigada obrigados cumprimentos atenciosamente prezado prezada prezados caro cara favor pode
        podem poderia poderiam gostaria queria todo toda todos todas algo algum alguma outro outra mesmo ao aos à às
        num numa durante segundo embora enquanto assim porém""",
}

FUNCTION_WORDS: frozenset[str] = frozenset(word for words in _WORDS.values() for word in words.split()) | VOTING_WORDS
