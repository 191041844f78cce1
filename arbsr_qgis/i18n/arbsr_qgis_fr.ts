<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR">
<context>
    <name>EngineAlgorithm</name>
    <message>
        <location filename="../algorithms/base.py" line="100"/>
        <source>Model</source>
        <translation>Modèle</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="103"/>
        <source>Checkpoint or exported model file (with MODEL = custom)</source>
        <translation>Fichier de poids ou modèle exporté (avec MODEL = personnalisé)</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="110"/>
        <source>Device</source>
        <translation>Périphérique de calcul</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="113"/>
        <source>Tile size in pixels (0 = ArbSR setting, else the engine&apos;s choice)</source>
        <translation>Taille des tuiles en pixels (0 = réglage ArbSR, sinon choix du moteur)</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="127"/>
        <source>MODEL is &apos;custom checkpoint file&apos; but no CHECKPOINT was given: choose the .pth/.ckpt/.pt/.onnx file, or pick a registered model.</source>
        <translation>MODEL vaut « custom checkpoint file » mais aucun CHECKPOINT n’est donné : choisissez le fichier .pth/.ckpt/.pt/.onnx, ou un modèle enregistré.</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="153"/>
        <source>Exporting &apos;{layer.name()}&apos; ({layer.providerType()}) to {out}</source>
        <translation>Export de « {layer.name()} » ({layer.providerType()}) vers {out}</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="158"/>
        <source>Cannot read layer &apos;{layer.name()}&apos;.</source>
        <translation>Impossible de lire la couche « {layer.name()} ».</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="165"/>
        <source>Could not export layer &apos;{layer.name()}&apos; to a GeoTIFF (error {err}): save it as a GeoTIFF first (Export &gt; Save As).</source>
        <translation>Impossible d’exporter la couche « {layer.name()} » en GeoTIFF (erreur {err}) : enregistrez-la d’abord en GeoTIFF (Exporter &gt; Enregistrer sous).</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="200"/>
        <source>Cancelled: no output was written.</source>
        <translation>Annulé : aucun résultat n’a été écrit.</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="217"/>
        <source>ArbSR writes GeoTIFF: give {name} a .tif file name (got {out}).</source>
        <translation>ArbSR écrit du GeoTIFF : donnez à {name} un nom de fichier .tif (reçu : {out}).</translation>
    </message>
</context>
<context>
    <name>EngineSetupPage</name>
    <message>
        <location filename="../gui/engine_setup.py" line="128"/>
        <source>ArbSR runs its engine in a separate Python that has PyTorch, numpy and GDAL. Order of use: the ARBSR_PYTHON environment variable, this setting, the checkout&apos;s .venv, python3.</source>
        <translation>ArbSR exécute son moteur dans un Python séparé qui dispose de PyTorch, numpy et GDAL. Ordre d’utilisation : la variable d’environnement ARBSR_PYTHON, ce réglage, le .venv du dépôt, python3.</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="232"/>
        <source>Engine Python</source>
        <translation>Python du moteur</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="138"/>
        <source>empty: ARBSR_PYTHON, the checkout&apos;s .venv or python3</source>
        <translation>vide : ARBSR_PYTHON, le .venv du dépôt ou python3</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="147"/>
        <source>Check / set up engine</source>
        <translation>Vérifier / installer le moteur</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="150"/>
        <source>Use selected Python</source>
        <translation>Utiliser le Python sélectionné</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="157"/>
        <source>Python</source>
        <translation>Python</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="157"/>
        <source>Found as</source>
        <translation>Trouvé comme</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="157"/>
        <source>PyTorch</source>
        <translation>PyTorch</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="158"/>
        <source>CUDA / GPU</source>
        <translation>CUDA / GPU</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="158"/>
        <source>GDAL</source>
        <translation>GDAL</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="158"/>
        <source>Engine</source>
        <translation>Moteur</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="158"/>
        <source>Status</source>
        <translation>État</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="209"/>
        <source>Create engine environment</source>
        <translation>Créer l’environnement du moteur</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="180"/>
        <source>Folder</source>
        <translation>Dossier</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="185"/>
        <source>From the Python (with GDAL)</source>
        <translation>À partir du Python (avec GDAL)</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="190"/>
        <source>PyTorch build</source>
        <translation>Version de PyTorch</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="191"/>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="192"/>
        <source>CUDA (NVIDIA GPU)</source>
        <translation>CUDA (GPU NVIDIA)</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="202"/>
        <source>Extra package index for PyTorch</source>
        <translation>Index de paquets supplémentaire pour PyTorch</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="204"/>
        <source>none: pip&apos;s own configuration</source>
        <translation>aucun : la configuration de pip</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="212"/>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="242"/>
        <source>Checking {n} Python interpreters…</source>
        <translation>Vérification de {n} interpréteurs Python…</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="257"/>
        <source>yes</source>
        <translation>oui</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="257"/>
        <source>no</source>
        <translation>non</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="256"/>
        <source>ready</source>
        <translation>prêt</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="256"/>
        <source>not usable</source>
        <translation>inutilisable</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="272"/>
        <source>{n} of {total} can run the engine; the first is {python}.</source>
        <translation>{n} sur {total} peuvent exécuter le moteur ; le premier est {python}.</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="275"/>
        <source>No Python found here can run the engine: create an engine environment below.</source>
        <translation>Aucun Python trouvé ici ne peut exécuter le moteur : créez un environnement du moteur ci-dessous.</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="297"/>
        <source>Give the Python to create the environment from.</source>
        <translation>Indiquez le Python à partir duquel créer l’environnement.</translation>
    </message>
</context>
<context>
    <name>EvaluateAlgorithm</name>
    <message>
        <location filename="../algorithms/evaluate.py" line="113"/>
        <source>Evaluate super-resolution (PSNR/SSIM vs cubic, lanczos)</source>
        <translation>Évaluer la super-résolution (PSNR/SSIM face à cubique, lanczos)</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="116"/>
        <source>Measures how well a model restores detail on your own data.

The high-resolution raster is downsampled by &lt;b&gt;Scale&lt;/b&gt;, then upscaled back to its size by the model and by GDAL cubic and lanczos resampling; each result is compared with the original (PSNR in dB and SSIM, on values normalised per band).
Outputs: an HTML report, and the numbers PSNR_MODEL, SSIM_MODEL, PSNR_CUBIC, SSIM_CUBIC, PSNR_LANCZOS, SSIM_LANCZOS that graphical models can use.</source>
        <translation>Mesure la capacité d’un modèle à restituer les détails sur vos propres données.

Le raster haute résolution est sous-échantillonné par le &lt;b&gt;facteur d’échelle&lt;/b&gt;, puis ramené à sa taille par le modèle et par les rééchantillonnages cubique et lanczos de GDAL ; chaque résultat est comparé à l’original (PSNR en dB et SSIM, sur des valeurs normalisées par bande).
Sorties : un rapport HTML, et les valeurs PSNR_MODEL, SSIM_MODEL, PSNR_CUBIC, SSIM_CUBIC, PSNR_LANCZOS, SSIM_LANCZOS utilisables dans les modèles graphiques.</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="125"/>
        <source>High-resolution raster</source>
        <translation>Raster haute résolution</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="128"/>
        <source>Scale factor</source>
        <translation>Facteur d’échelle</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="132"/>
        <source>Evaluation report</source>
        <translation>Rapport d’évaluation</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="132"/>
        <source>HTML files (*.html)</source>
        <translation>Fichiers HTML (*.html)</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="159"/>
        <source>The engine&apos;s evaluate output has no model PSNR: update the plugin and engine together (results: , </source>
        <translation>La sortie d’évaluation du moteur ne contient pas le PSNR du modèle : mettez à jour l’extension et le moteur ensemble (résultats : , </translation>
    </message>
</context>
<context>
    <name>TrainAlgorithm</name>
    <message>
        <location filename="../algorithms/train.py" line="60"/>
        <source>Fine-tune a super-resolution model on your rasters</source>
        <translation>Affiner un modèle de super-résolution sur vos rasters</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="63"/>
        <source>Fine-tunes a model on your own high-resolution rasters (self-supervised: random patches are downsampled by a random scale between Min scale and Max scale and the model learns to restore them). &lt;b&gt;Model&lt;/b&gt;: the registered model to start from (its family is used), a custom checkpoint file, or none to train from scratch with &lt;b&gt;Family&lt;/b&gt;.

Long-running: progress and the training loss are shown as it goes; Cancel stops it. The output folder receives the checkpoints (official layout); the returned CHECKPOINT_FILE can be used with MODEL = &apos;custom checkpoint file&apos; in Upscale and Evaluate. A GPU (Device = cuda) makes training much faster.</source>
        <translation>Affine un modèle sur vos propres rasters haute résolution (auto-supervisé : des extraits aléatoires sont sous-échantillonnés d’un facteur aléatoire entre l’échelle min. et l’échelle max., et le modèle apprend à les restituer). &lt;b&gt;Modèle&lt;/b&gt; : le modèle enregistré de départ (sa famille est utilisée), un fichier de poids personnalisé, ou aucun pour entraîner depuis zéro avec la &lt;b&gt;famille&lt;/b&gt; choisie.

Traitement long : la progression et la perte d’entraînement s’affichent au fur et à mesure ; Annuler l’arrête. Le dossier de sortie reçoit les fichiers de poids (format officiel) ; le CHECKPOINT_FILE renvoyé s’utilise avec MODEL = « custom checkpoint file » dans Super-résolution et Évaluation. Un GPU (périphérique = cuda) accélère fortement l’entraînement.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="75"/>
        <source>Training rasters (high resolution)</source>
        <translation>Rasters d’entraînement (haute résolution)</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="78"/>
        <source>Start from model</source>
        <translation>Modèle de départ</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="81"/>
        <source>Checkpoint to start from (with &apos;custom checkpoint file&apos;)</source>
        <translation>Fichier de poids de départ (avec « custom checkpoint file »)</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="85"/>
        <source>Family (when training from scratch)</source>
        <translation>Famille (pour un entraînement depuis zéro)</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="93"/>
        <source>Min scale</source>
        <translation>Échelle min.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="96"/>
        <source>Max scale</source>
        <translation>Échelle max.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="99"/>
        <source>Device</source>
        <translation>Périphérique de calcul</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="113"/>
        <source>Output folder for checkpoints</source>
        <translation>Dossier de sortie des fichiers de poids</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="115"/>
        <source>Trained checkpoint</source>
        <translation>Fichier de poids entraîné</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="117"/>
        <source>Final training loss</source>
        <translation>Perte d’entraînement finale</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="130"/>
        <source>Start from model is &apos;custom checkpoint file&apos; but no checkpoint was given.</source>
        <translation>Le modèle de départ est « custom checkpoint file » mais aucun fichier de poids n’est donné.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="137"/>
        <source>Model &apos;{model}&apos; is not registered any more: pick another one.</source>
        <translation>Le modèle « {model} » n’est plus enregistré : choisissez-en un autre.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="145"/>
        <source>Give at least one training raster.</source>
        <translation>Donnez au moins un raster d’entraînement.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="149"/>
        <source>Max scale must not be below Min scale.</source>
        <translation>L’échelle max. ne doit pas être inférieure à l’échelle min.</translation>
    </message>
</context>
<context>
    <name>UpscaleAlgorithm</name>
    <message>
        <location filename="../algorithms/upscale.py" line="36"/>
        <source>Super-resolve raster (arbitrary scale)</source>
        <translation>Super-résolution de raster (échelle arbitraire)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="39"/>
        <source>Upscales a raster layer with a learned super-resolution model (default: the bundled LMLTE model) by any factor, fractional included.

&lt;b&gt;Scale&lt;/b&gt;: output width = round(width × scale); the extent and CRS are kept exactly, so the pixel size becomes input pixel size / scale. &lt;b&gt;Target resolution&lt;/b&gt; (map units), when set, replaces the scale and picks the factor that gives that pixel size.
&lt;b&gt;Bands&lt;/b&gt;: all bands when empty. Data type, nodata and band metadata are kept.
&lt;b&gt;Model&lt;/b&gt;: a registered model, or 'custom checkpoint file' with a .pth/.ckpt/.pt/.onnx file in Checkpoint. Diffusion models also use Seed and Steps (advanced).
&lt;b&gt;Device&lt;/b&gt;: auto uses CUDA when present. &lt;b&gt;Tile size&lt;/b&gt; bounds memory; the result does not depend on it.

The work runs in a separate Python process (Processing options &gt; Providers &gt; ArbSR &gt; Engine Python); Cancel stops it at once and leaves no output file. Layers that are not files (WMS, databases, memory) are exported to a temporary GeoTIFF first.</source>
        <translation>Agrandit une couche raster avec un modèle de super-résolution appris (par défaut : le modèle LMLTE fourni) d’un facteur quelconque, fractionnaire compris.

&lt;b&gt;Échelle&lt;/b&gt; : largeur de sortie = arrondi(largeur × échelle) ; l’emprise et le SCR sont conservés exactement, la taille de pixel devient donc taille de pixel d’entrée / échelle. &lt;b&gt;Résolution cible&lt;/b&gt; (unités de la carte), si elle est donnée, remplace l’échelle et choisit le facteur qui donne cette taille de pixel.
&lt;b&gt;Bandes&lt;/b&gt; : toutes si vide. Le type de données, la valeur nodata et les métadonnées des bandes sont conservés.
&lt;b&gt;Modèle&lt;/b&gt; : un modèle enregistré, ou « custom checkpoint file » avec un fichier .pth/.ckpt/.pt/.onnx dans Fichier de poids. Les modèles de diffusion utilisent aussi Graine et Étapes (avancé).
&lt;b&gt;Périphérique&lt;/b&gt; : auto utilise CUDA s’il est présent. La &lt;b&gt;taille des tuiles&lt;/b&gt; borne la mémoire ; le résultat n’en dépend pas.

Le calcul s’exécute dans un processus Python séparé (Options de traitement &gt; Fournisseurs &gt; ArbSR &gt; Python du moteur) ; Annuler l’arrête aussitôt sans laisser de fichier de sortie. Les couches qui ne sont pas des fichiers (WMS, bases de données, mémoire) sont d’abord exportées dans un GeoTIFF temporaire.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="57"/>
        <source>Input raster</source>
        <translation>Raster en entrée</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="59"/>
        <source>Scale factor</source>
        <translation>Facteur d’échelle</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="62"/>
        <source>Target pixel size in map units (replaces the scale)</source>
        <translation>Taille de pixel cible en unités de la carte (remplace l’échelle)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="65"/>
        <source>Bands (all when empty)</source>
        <translation>Bandes (toutes si vide)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="76"/>
        <source>Super-resolved raster</source>
        <translation>Raster super-résolu</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="114"/>
        <source>The engine reported success but {written} does not exist.</source>
        <translation>Le moteur a signalé un succès mais {written} n’existe pas.</translation>
    </message>
</context>
</TS>
