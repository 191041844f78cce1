<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR">
<context>
    <name>ArbsrDock</name>
    <message>
        <location filename="../gui/dock.py" line="103"/>
        <source>ArbSR super-resolution</source>
        <translation>Super-résolution ArbSR</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="127"/>
        <source>Raster layers to upscale:</source>
        <translation>Couches raster à agrandir :</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="135"/>
        <source>Model</source>
        <translation>Modèle</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="154"/>
        <source>Device</source>
        <translation>Périphérique de calcul</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="170"/>
        <source>Scale</source>
        <translation>Échelle</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="173"/>
        <source>Output</source>
        <translation>Sortie</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="175"/>
        <source>Temporary outputs</source>
        <translation>Sorties temporaires</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="182"/>
        <source>Folder</source>
        <translation>Dossier</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="190"/>
        <source>Run</source>
        <translation>Exécuter</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="191"/>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="363"/>
        <source>Tick a layer to see the output size.</source>
        <translation>Cochez une couche pour voir la taille de sortie.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="369"/>
        <source>{layer}: {geometry}</source>
        <translation>{layer} : {geometry}</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="372"/>
        <source>(+{count} more layers)</source>
        <translation>(+{count} autres couches)</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="389"/>
        <source>ArbSR is still running; wait or press Cancel.</source>
        <translation>ArbSR est encore en cours ; attendez ou appuyez sur Annuler.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="407"/>
        <source>The ArbSR Processing provider is not loaded; re-enable the plugin.</source>
        <translation>Le fournisseur de traitements ArbSR n’est pas chargé ; réactivez l’extension.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="424"/>
        <source>Running {count} layer(s)…</source>
        <translation>Traitement de {count} couche(s)…</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="438"/>
        <source>Cancelled.</source>
        <translation>Annulé.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="440"/>
        <source>see the log</source>
        <translation>voir le journal</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="441"/>
        <source>ArbSR failed on &apos;{layer}&apos;: {reason}</source>
        <translation>ArbSR a échoué sur « {layer} » : {reason}</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="452"/>
        <source>Done: {good} ok, {bad} failed.</source>
        <translation>Terminé : {good} réussi(s), {bad} en échec.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="454"/>
        <source>Last error: {error}</source>
        <translation>Dernière erreur : {error}</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="463"/>
        <source>ArbSR wrote {path} but QGIS cannot open it.</source>
        <translation>ArbSR a écrit {path} mais QGIS ne peut pas l’ouvrir.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="474"/>
        <source>ArbSR results</source>
        <translation>Résultats ArbSR</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="485"/>
        <source>Added {layer}.</source>
        <translation>{layer} ajoutée.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="139"/>
        <source>Detail of the diffusion model: left is deterministic and closest to the truth on average; right draws finer, partly invented detail.</source>
        <translation>Niveau de détail du modèle de diffusion : à gauche, déterministe et le plus proche de la réalité en moyenne ; à droite, des détails plus fins, en partie inventés.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="142"/>
        <source>Detail</source>
        <translation>Détail</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="144"/>
        <source>Uncertainty layer</source>
        <translation>Couche d’incertitude</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="145"/>
        <source>Also add a layer with the per-pixel spread of 4 samples (standard deviation, in the output&apos;s units): bright where the model is unsure. Takes 4 times as long.</source>
        <translation>Ajoute aussi une couche avec la dispersion par pixel de 4 tirages (écart type, dans les unités de la sortie) : claire là où le modèle est incertain. Prend 4 fois plus de temps.</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="479"/>
        <source>{layer} uncertainty</source>
        <translation>{layer} incertitude</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="380"/>
        <source>Time: {duration} on a 2-core CPU (less on a GPU)</source>
        <translation>Durée : {duration} sur un processeur à 2 cœurs (moins sur un GPU)</translation>
    </message>
    <message>
        <location filename="../gui/dock.py" line="375"/>
        <source>Model: {note}</source>
        <translation>Modèle : {note}</translation>
    </message>
</context>
<context>
    <name>ArbsrPlugin</name>
    <message>
        <location filename="../plugin.py" line="43"/>
        <source>ArbSR super-resolution</source>
        <translation>Super-résolution ArbSR</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="48"/>
        <source>Show the ArbSR super-resolution dock</source>
        <translation>Afficher le panneau de super-résolution ArbSR</translation>
    </message>
</context>
<context>
    <name>ArbsrProvider</name>
    <message>
        <location filename="../provider.py" line="27"/>
        <source>ArbSR arbitrary-scale super-resolution</source>
        <translation>ArbSR, super-résolution à échelle arbitraire</translation>
    </message>
</context>
<context>
    <name>ArbsrSettings</name>
    <message>
        <location filename="../settings.py" line="47"/>
        <source>Engine Python (interpreter with torch and GDAL; empty: $ARBSR_PYTHON, the checkout&apos;s .venv or python3)</source>
        <translation>Python du moteur (interpréteur avec torch et GDAL ; vide : $ARBSR_PYTHON, le .venv du dépôt ou python3)</translation>
    </message>
    <message>
        <location filename="../settings.py" line="52"/>
        <source>Default device</source>
        <translation>Périphérique de calcul par défaut</translation>
    </message>
    <message>
        <location filename="../settings.py" line="55"/>
        <source>Default tile size in pixels (0 = the engine&apos;s choice)</source>
        <translation>Taille de tuile par défaut en pixels (0 = choix du moteur)</translation>
    </message>
    <message>
        <location filename="../settings.py" line="60"/>
        <source>Default worker processes for Super-resolve (1 = one process; with Ray: the number of Ray workers)</source>
        <translation>Nombre de processus par défaut pour la super-résolution (1 = un seul processus ; avec Ray : le nombre de workers Ray)</translation>
    </message>
    <message>
        <location filename="../settings.py" line="65"/>
        <source>Default Ray address for Super-resolve (empty = this computer; local, auto, host:port or ray://host:10001)</source>
        <translation>Adresse Ray par défaut pour la super-résolution (vide = cet ordinateur ; local, auto, hôte:port ou ray://hôte:10001)</translation>
    </message>
    <message>
        <location filename="../settings.py" line="71"/>
        <source>Extra models folder (JSON model cards)</source>
        <translation>Dossier de modèles supplémentaire (fiches de modèle JSON)</translation>
    </message>
    <message>
        <location filename="../settings.py" line="85"/>
        <source>The number of workers must be a whole number of at least 1 (got {value}).</source>
        <translation>Le nombre de workers doit être un entier d’au moins 1 (reçu : {value}).</translation>
    </message>
</context>
<context>
    <name>DockState</name>
    <message>
        <location filename="../gui/dock_state.py" line="52"/>
        <source>{width} × {height} px, pixel {px} × {py}</source>
        <translation>{width} × {height} px, pixel {px} × {py}</translation>
    </message>
    <message>
        <location filename="../gui/dock_state.py" line="170"/>
        <source>Select at least one raster layer.</source>
        <translation>Sélectionnez au moins une couche raster.</translation>
    </message>
    <message>
        <location filename="../gui/dock_state.py" line="172"/>
        <source>Choose an output folder, or tick &apos;Temporary outputs&apos;.</source>
        <translation>Choisissez un dossier de sortie, ou cochez « Sorties temporaires ».</translation>
    </message>
    <message>
        <location filename="../gui/dock_state.py" line="175"/>
        <source>The scale must be between {low} and {high}.</source>
        <translation>L’échelle doit être comprise entre {low} et {high}.</translation>
    </message>
    <message>
        <location filename="../gui/dock_state.py" line="78"/>
        <source>about {n} s</source>
        <translation>environ {n} s</translation>
    </message>
    <message>
        <location filename="../gui/dock_state.py" line="81"/>
        <source>about {n} min</source>
        <translation>environ {n} min</translation>
    </message>
    <message>
        <location filename="../gui/dock_state.py" line="84"/>
        <source>about {n} h</source>
        <translation>environ {n} h</translation>
    </message>
</context>
<context>
    <name>EngineAlgorithm</name>
    <message>
        <location filename="../algorithms/base.py" line="159"/>
        <source>Model</source>
        <translation>Modèle</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="168"/>
        <source>Checkpoint or exported model file (with MODEL = custom)</source>
        <translation>Fichier de poids ou modèle exporté (avec MODEL = personnalisé)</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="191"/>
        <source>Device</source>
        <translation>Périphérique de calcul</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="179"/>
        <source>Tile size in pixels (0 = ArbSR setting, else the engine&apos;s choice)</source>
        <translation>Taille des tuiles en pixels (0 = réglage ArbSR, sinon choix du moteur)</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="234"/>
        <source>MODEL is &apos;custom checkpoint file&apos; but no CHECKPOINT was given: choose the .pth/.ckpt/.pt/.onnx file, or pick a registered model.</source>
        <translation>MODEL vaut « custom checkpoint file » mais aucun CHECKPOINT n’est donné : choisissez le fichier .pth/.ckpt/.pt/.onnx, ou un modèle enregistré.</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="309"/>
        <source>Cancelled: no output was written.</source>
        <translation>Annulé : aucun résultat n’a été écrit.</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="128"/>
        <source>Example from a shell (on Debian&apos;s QGIS 3.22 the program is qgis_process.bin; run &apos;qgis_process help {alg}&apos; for every parameter):</source>
        <translation>Exemple depuis un terminal (avec le QGIS 3.22 de Debian, le programme est qgis_process.bin ; lancez « qgis_process help {alg} » pour tous les paramètres) :</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="168"/>
        <source>A checkpoint (.pth, .ckpt, .safetensors: official LMF/LDCSR files or ones trained with ArbSR) or an exported model (.pt TorchScript, .onnx). When given, it is used whatever Model says.</source>
        <translation>Un fichier de poids (.pth, .ckpt, .safetensors : fichiers officiels LMF/LDCSR ou entraînés avec ArbSR) ou un modèle exporté (.pt TorchScript, .onnx). S’il est donné, il est utilisé quel que soit le Modèle choisi.</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="179"/>
        <source>The raster is processed in tiles of this many pixels (with overlap), which bounds memory; the result does not depend on it. 0 uses the default tile size of Processing options &gt; Providers &gt; ArbSR, and when that is 0 too the engine chooses (it halves the tile by itself when memory runs out).</source>
        <translation>Le raster est traité en tuiles de cette taille en pixels (avec recouvrement), ce qui borne la mémoire ; le résultat n’en dépend pas. 0 utilise la taille de tuile par défaut des Options de traitement &gt; Fournisseurs &gt; ArbSR, et si elle vaut aussi 0 le moteur choisit (il divise la tuile par deux de lui-même quand la mémoire manque).</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="196"/>
        <source>auto uses the GPU (CUDA) when the engine Python has a CUDA build of PyTorch, else the CPU; cuda fails with a clear message when no GPU is usable. The default comes from Processing options &gt; Providers &gt; ArbSR.</source>
        <translation>auto utilise le GPU (CUDA) quand le Python du moteur a une version CUDA de PyTorch, sinon le CPU ; cuda échoue avec un message clair quand aucun GPU n’est utilisable. La valeur par défaut vient des Options de traitement &gt; Fournisseurs &gt; ArbSR.</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="257"/>
        <source>&lt;{layer} exported to a temporary GeoTIFF&gt;</source>
        <translation>&lt;{layer} exportée dans un GeoTIFF temporaire&gt;</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="261"/>
        <source>Exporting &apos;{layer}&apos; ({provider}) to {path}</source>
        <translation>Export de « {layer} » ({provider}) vers {path}</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="266"/>
        <source>Cannot read layer &apos;{layer}&apos;.</source>
        <translation>Impossible de lire la couche « {layer} ».</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="274"/>
        <source>Could not export layer &apos;{layer}&apos; to a GeoTIFF (error {error}): save it as a GeoTIFF first (Export &gt; Save As).</source>
        <translation>Impossible d’exporter la couche « {layer} » en GeoTIFF (erreur {error}) : enregistrez-la d’abord en GeoTIFF (Exporter &gt; Enregistrer sous).</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="326"/>
        <source>ArbSR writes GeoTIFF: give {parameter} a .tif file name (got {path}).</source>
        <translation>ArbSR écrit du GeoTIFF : donnez à {parameter} un nom de fichier .tif (reçu : {path}).</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="159"/>
        <source>A registered model (&apos;default&apos; is the bundled LMLTE model; &apos;python -m engine models&apos; lists them all, with their bands and scale range), or &apos;custom checkpoint file&apos; to use the file given in Checkpoint. From qgis_process, give the name, e.g. MODEL=moe. Demonstration models (weights that do not beat GDAL cubic) are listed only when Settings &gt; Options &gt; ArbSR asks for them, but their names always work.</source>
        <translation>Un modèle enregistré (« default » est le modèle LMLTE fourni ; « python -m engine models » les liste tous, avec leurs bandes et leur plage d’échelles), ou « custom checkpoint file » pour utiliser le fichier donné dans Fichier de poids. Depuis qgis_process, donnez le nom, par ex. MODEL=moe. Les modèles de démonstration (poids qui ne battent pas le cubique de GDAL) ne sont listés que si Préférences &gt; Options &gt; ArbSR le demande, mais leurs noms fonctionnent toujours.</translation>
    </message>
    <message>
        <location filename="../algorithms/base.py" line="126"/>
        <source>Models (MODEL) and their trade-offs:</source>
        <translation>Modèles (MODEL) et leurs compromis :</translation>
    </message>
</context>
<context>
    <name>EngineClient</name>
    <message>
        <location filename="../engine_client.py" line="109"/>
        <source>The ArbSR engine was not found next to the plugin ({folder}): reinstall the plugin from its zip, which contains the engine/ folder.</source>
        <translation>Le moteur ArbSR est introuvable à côté de l’extension ({folder}) : réinstallez l’extension depuis son zip, qui contient le dossier engine/.</translation>
    </message>
    <message>
        <location filename="../engine_client.py" line="209"/>
        <source>The engine Python &apos;{python}&apos; has no PyTorch. Install it with &apos;{python} -m pip install torch&apos;, or set Processing options &gt; Providers &gt; ArbSR &gt; Engine Python (or $ARBSR_PYTHON) to an interpreter that has torch.</source>
        <translation>Le Python du moteur « {python} » n’a pas PyTorch. Installez-le avec « {python} -m pip install torch », ou indiquez dans Options de traitement &gt; Fournisseurs &gt; ArbSR &gt; Python du moteur (ou $ARBSR_PYTHON) un interpréteur qui a torch.</translation>
    </message>
    <message>
        <location filename="../engine_client.py" line="215"/>
        <source>The engine Python &apos;{python}&apos; has no GDAL bindings (osgeo). Install GDAL for it (Debian: apt install python3-gdal; make its venv with --system-site-packages), or choose another interpreter in Processing options &gt; Providers &gt; ArbSR.</source>
        <translation>Le Python du moteur « {python} » n’a pas les liaisons Python de GDAL (osgeo). Installez GDAL pour lui (Debian : apt install python3-gdal ; créez son venv avec --system-site-packages), ou choisissez un autre interpréteur dans Options de traitement &gt; Fournisseurs &gt; ArbSR.</translation>
    </message>
    <message>
        <location filename="../engine_client.py" line="221"/>
        <source>The ArbSR engine package could not be imported by the child process: reinstall the plugin from its zip (it contains the engine/ folder).</source>
        <translation>Le processus enfant n’a pas pu importer le paquet du moteur ArbSR : réinstallez l’extension depuis son zip (il contient le dossier engine/).</translation>
    </message>
    <message>
        <location filename="../engine_client.py" line="281"/>
        <source>Cannot start the engine Python &apos;{python}&apos; ({reason}): set Processing options &gt; Providers &gt; ArbSR &gt; Engine Python (or $ARBSR_PYTHON) to a Python 3 interpreter with torch and GDAL.</source>
        <translation>Impossible de lancer le Python du moteur « {python} » ({reason}) : indiquez dans Options de traitement &gt; Fournisseurs &gt; ArbSR &gt; Python du moteur (ou $ARBSR_PYTHON) un interpréteur Python 3 avec torch et GDAL.</translation>
    </message>
    <message>
        <location filename="../engine_client.py" line="315"/>
        <source>{problem}: the plugin and engine versions do not match; reinstall the plugin.</source>
        <translation>{problem} : les versions de l’extension et du moteur ne correspondent pas ; réinstallez l’extension.</translation>
    </message>
    <message>
        <location filename="../engine_client.py" line="337"/>
        <source>the engine exited with code {code} without a result</source>
        <translation>le moteur s’est arrêté avec le code {code} sans résultat</translation>
    </message>
</context>
<context>
    <name>EngineSetupPage</name>
    <message>
        <location filename="../gui/engine_setup.py" line="125"/>
        <source>ArbSR runs its engine in a separate Python that has PyTorch, numpy and GDAL. Order of use: the ARBSR_PYTHON environment variable, this setting, the checkout&apos;s .venv, python3.</source>
        <translation>ArbSR exécute son moteur dans un Python séparé qui dispose de PyTorch, numpy et GDAL. Ordre d’utilisation : la variable d’environnement ARBSR_PYTHON, ce réglage, le .venv du dépôt, python3.</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="231"/>
        <source>Engine Python</source>
        <translation>Python du moteur</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="135"/>
        <source>empty: ARBSR_PYTHON, the checkout&apos;s .venv or python3</source>
        <translation>vide : ARBSR_PYTHON, le .venv du dépôt ou python3</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="144"/>
        <source>Check / set up engine</source>
        <translation>Vérifier / installer le moteur</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="147"/>
        <source>Use selected Python</source>
        <translation>Utiliser le Python sélectionné</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="154"/>
        <source>Python</source>
        <translation>Python</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="154"/>
        <source>Found as</source>
        <translation>Trouvé comme</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="154"/>
        <source>PyTorch</source>
        <translation>PyTorch</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="155"/>
        <source>CUDA / GPU</source>
        <translation>CUDA / GPU</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="155"/>
        <source>GDAL</source>
        <translation>GDAL</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="155"/>
        <source>Engine</source>
        <translation>Moteur</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="155"/>
        <source>Status</source>
        <translation>État</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="206"/>
        <source>Create engine environment</source>
        <translation>Créer l’environnement du moteur</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="177"/>
        <source>Folder</source>
        <translation>Dossier</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="182"/>
        <source>From the Python (with GDAL)</source>
        <translation>À partir du Python (avec GDAL)</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="187"/>
        <source>PyTorch build</source>
        <translation>Version de PyTorch</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="188"/>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="189"/>
        <source>CUDA (NVIDIA GPU)</source>
        <translation>CUDA (GPU NVIDIA)</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="199"/>
        <source>Extra package index for PyTorch</source>
        <translation>Index de paquets supplémentaire pour PyTorch</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="201"/>
        <source>none: pip&apos;s own configuration</source>
        <translation>aucun : la configuration de pip</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="209"/>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="241"/>
        <source>Checking {n} Python interpreters…</source>
        <translation>Vérification de {n} interpréteurs Python…</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="256"/>
        <source>yes</source>
        <translation>oui</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="256"/>
        <source>no</source>
        <translation>non</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="255"/>
        <source>ready</source>
        <translation>prêt</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="255"/>
        <source>not usable</source>
        <translation>inutilisable</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="271"/>
        <source>{n} of {total} can run the engine; the first is {python}.</source>
        <translation>{n} sur {total} peuvent exécuter le moteur ; le premier est {python}.</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="274"/>
        <source>No Python found here can run the engine: create an engine environment below.</source>
        <translation>Aucun Python trouvé ici ne peut exécuter le moteur : créez un environnement du moteur ci-dessous.</translation>
    </message>
    <message>
        <location filename="../gui/engine_setup.py" line="296"/>
        <source>Give the Python to create the environment from.</source>
        <translation>Indiquez le Python à partir duquel créer l’environnement.</translation>
    </message>
</context>
<context>
    <name>EvaluateAlgorithm</name>
    <message>
        <location filename="../algorithms/evaluate.py" line="119"/>
        <source>Evaluate super-resolution (PSNR/SSIM vs cubic, lanczos)</source>
        <translation>Évaluer la super-résolution (PSNR/SSIM face à cubique, lanczos)</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="122"/>
        <source>Measures how well a model restores detail on your own data.

The high-resolution raster is downsampled by &lt;b&gt;Scale&lt;/b&gt;, then upscaled back to its size by the model and by GDAL cubic and lanczos resampling; each result is compared with the original (PSNR in dB and SSIM, on values normalised per band).
Outputs: an HTML report, and the numbers PSNR_MODEL, SSIM_MODEL, PSNR_CUBIC, SSIM_CUBIC, PSNR_LANCZOS, SSIM_LANCZOS that graphical models can use.</source>
        <translation>Mesure la capacité d’un modèle à restituer les détails sur vos propres données.

Le raster haute résolution est sous-échantillonné par le &lt;b&gt;facteur d’échelle&lt;/b&gt;, puis ramené à sa taille par le modèle et par les rééchantillonnages cubique et lanczos de GDAL ; chaque résultat est comparé à l’original (PSNR en dB et SSIM, sur des valeurs normalisées par bande).
Sorties : un rapport HTML, et les valeurs PSNR_MODEL, SSIM_MODEL, PSNR_CUBIC, SSIM_CUBIC, PSNR_LANCZOS, SSIM_LANCZOS utilisables dans les modèles graphiques.</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="131"/>
        <source>High-resolution raster</source>
        <translation>Raster haute résolution</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="136"/>
        <source>Scale factor</source>
        <translation>Facteur d’échelle</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="142"/>
        <source>Evaluation report</source>
        <translation>Rapport d’évaluation</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="142"/>
        <source>HTML files (*.html)</source>
        <translation>Fichiers HTML (*.html)</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="131"/>
        <source>A raster at the resolution you want to reach (the reference). It is downsampled by Scale factor, and each method has to restore it.</source>
        <translation>Un raster à la résolution que vous voulez atteindre (la référence). Il est sous-échantillonné du facteur d’échelle, et chaque méthode doit le restituer.</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="136"/>
        <source>The factor of the test: the reference is downsampled by it, then upscaled back by the model and by GDAL cubic and lanczos. Fractions are allowed.</source>
        <translation>Le facteur du test : la référence est sous-échantillonnée de ce facteur, puis ré-agrandie par le modèle et par les méthodes cubique et lanczos de GDAL. Les fractions sont permises.</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="142"/>
        <source>An HTML page with the PSNR (dB) and SSIM of each method.</source>
        <translation>Une page HTML avec le PSNR (dB) et le SSIM de chaque méthode.</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="146"/>
        <source>PSNR of the model (dB)</source>
        <translation>PSNR du modèle (dB)</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="147"/>
        <source>SSIM of the model</source>
        <translation>SSIM du modèle</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="148"/>
        <source>PSNR of GDAL cubic (dB)</source>
        <translation>PSNR de GDAL cubique (dB)</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="149"/>
        <source>SSIM of GDAL cubic</source>
        <translation>SSIM de GDAL cubique</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="150"/>
        <source>PSNR of GDAL lanczos (dB)</source>
        <translation>PSNR de GDAL lanczos (dB)</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="151"/>
        <source>SSIM of GDAL lanczos</source>
        <translation>SSIM de GDAL lanczos</translation>
    </message>
    <message>
        <location filename="../algorithms/evaluate.py" line="177"/>
        <source>The engine&apos;s evaluate output has no model PSNR: update the plugin and engine together (results: {keys}).</source>
        <translation>La sortie d’évaluation du moteur ne contient pas le PSNR du modèle : mettez à jour l’extension et le moteur ensemble (résultats : {keys}).</translation>
    </message>
</context>
<context>
    <name>ModelsBox</name>
    <message>
        <location filename="../gui/models_box.py" line="72"/>
        <source>Models</source>
        <translation>Modèles</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="75"/>
        <source>Show demonstration models (weights that do not beat GDAL cubic; for trying the code paths)</source>
        <translation>Afficher les modèles de démonstration (poids qui ne battent pas le cubique de GDAL ; pour essayer les chaînes de traitement)</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="88"/>
        <source>Name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="90"/>
        <source>empty: from the file name</source>
        <translation>vide : d’après le nom du fichier</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="92"/>
        <source>Add model…</source>
        <translation>Ajouter un modèle…</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="93"/>
        <source>Register a checkpoint file (official LMF .pth or LDCSR .ckpt, one trained with ArbSR, an exported .pt/.onnx) under a name: the engine loads it to check it, and the file stays where it is.</source>
        <translation>Enregistrer un fichier de poids (.pth LMF ou .ckpt LDCSR officiel, un fichier entraîné avec ArbSR, un .pt/.onnx exporté) sous un nom : le moteur le charge pour le vérifier, et le fichier reste où il est.</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="99"/>
        <source>Remove</source>
        <translation>Retirer</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="112"/>
        <source>Models you add are registered in {folder}; the checkpoint files are not copied.</source>
        <translation>Les modèles ajoutés sont enregistrés dans {folder} ; les fichiers de poids ne sont pas copiés.</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="118"/>
        <source>{name} ({family}, {bands} band(s), ×{low:g}–×{high:g})</source>
        <translation>{name} ({family}, {bands} bande(s), ×{low:g}–×{high:g})</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="133"/>
        <source>Add model</source>
        <translation>Ajouter un modèle</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="141"/>
        <source>Checking {path}…</source>
        <translation>Vérification de {path}…</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="150"/>
        <source>Removing {name}…</source>
        <translation>Retrait de {name}…</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="170"/>
        <source>Registered &apos;{name}&apos; ({family}, {bands} band(s)).</source>
        <translation>« {name} » enregistré ({family}, {bands} bande(s)).</translation>
    </message>
    <message>
        <location filename="../gui/models_box.py" line="174"/>
        <source>Removed; the checkpoint file is kept.</source>
        <translation>Retiré ; le fichier de poids est conservé.</translation>
    </message>
</context>
<context>
    <name>TrainAlgorithm</name>
    <message>
        <location filename="../algorithms/train.py" line="72"/>
        <source>Fine-tune a super-resolution model on your rasters</source>
        <translation>Affiner un modèle de super-résolution sur vos rasters</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="75"/>
        <source>Fine-tunes a model on your own high-resolution rasters (self-supervised: random patches are downsampled by a random scale between Min scale and Max scale and the model learns to restore them). &lt;b&gt;Model&lt;/b&gt;: the registered model to start from (its family is used), a custom checkpoint file, or none to train from scratch with &lt;b&gt;Family&lt;/b&gt;.

Long-running: progress and the training loss are shown as it goes; Cancel stops it. The output folder receives the checkpoints (official layout); the returned CHECKPOINT_FILE can be used with MODEL = &apos;custom checkpoint file&apos; in Upscale and Evaluate. A GPU (Device = cuda) makes training much faster.</source>
        <translation>Affine un modèle sur vos propres rasters haute résolution (auto-supervisé : des extraits aléatoires sont sous-échantillonnés d’un facteur aléatoire entre l’échelle min. et l’échelle max., et le modèle apprend à les restituer). &lt;b&gt;Modèle&lt;/b&gt; : le modèle enregistré de départ (sa famille est utilisée), un fichier de poids personnalisé, ou aucun pour entraîner depuis zéro avec la &lt;b&gt;famille&lt;/b&gt; choisie.

Traitement long : la progression et la perte d’entraînement s’affichent au fur et à mesure ; Annuler l’arrête. Le dossier de sortie reçoit les fichiers de poids (format officiel) ; le CHECKPOINT_FILE renvoyé s’utilise avec MODEL = « custom checkpoint file » dans Super-résolution et Évaluation. Un GPU (périphérique = cuda) accélère fortement l’entraînement.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="88"/>
        <source>Training rasters (high resolution)</source>
        <translation>Rasters d’entraînement (haute résolution)</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="94"/>
        <source>Start from model</source>
        <translation>Modèle de départ</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="100"/>
        <source>Checkpoint to start from (with &apos;custom checkpoint file&apos;)</source>
        <translation>Fichier de poids de départ (avec « custom checkpoint file »)</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="105"/>
        <source>Family (when training from scratch)</source>
        <translation>Famille (pour un entraînement depuis zéro)</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="117"/>
        <source>Min scale</source>
        <translation>Échelle min.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="120"/>
        <source>Max scale</source>
        <translation>Échelle max.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="144"/>
        <source>Output folder for checkpoints</source>
        <translation>Dossier de sortie des fichiers de poids</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="148"/>
        <source>Trained checkpoint</source>
        <translation>Fichier de poids entraîné</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="150"/>
        <source>Final training loss</source>
        <translation>Perte d’entraînement finale</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="163"/>
        <source>Start from model is &apos;custom checkpoint file&apos; but no checkpoint was given.</source>
        <translation>Le modèle de départ est « custom checkpoint file » mais aucun fichier de poids n’est donné.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="170"/>
        <source>Model &apos;{model}&apos; is not registered any more: pick another one.</source>
        <translation>Le modèle « {model} » n’est plus enregistré : choisissez-en un autre.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="179"/>
        <source>Give at least one training raster.</source>
        <translation>Donnez au moins un raster d’entraînement.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="183"/>
        <source>Max scale must not be below Min scale.</source>
        <translation>L’échelle max. ne doit pas être inférieure à l’échelle min.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="88"/>
        <source>Your rasters at the resolution the model should produce. Random patches are cut from them and downsampled to make the training pairs. From qgis_process: INPUTS=a.tif INPUTS=b.tif.</source>
        <translation>Vos rasters à la résolution que le modèle doit produire. Des extraits aléatoires y sont découpés puis sous-échantillonnés pour former les paires d’entraînement. Depuis qgis_process : INPUTS=a.tif INPUTS=b.tif.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="94"/>
        <source>The registered model whose weights (and family) training starts from, &apos;custom checkpoint file&apos; to start from the file in Checkpoint, or &apos;none (train from scratch)&apos; with Family.</source>
        <translation>Le modèle enregistré dont les poids (et la famille) servent de départ, « custom checkpoint file » pour partir du fichier donné dans Fichier de poids, ou « none (train from scratch) » avec la Famille.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="100"/>
        <source>A checkpoint (.pth, .ckpt) to start from; its family is given in Family.</source>
        <translation>Un fichier de poids (.pth, .ckpt) de départ ; sa famille est donnée dans Famille.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="111"/>
        <source>Epochs</source>
        <translation>Époques</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="111"/>
        <source>Number of training epochs.</source>
        <translation>Nombre d’époques d’entraînement.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="114"/>
        <source>Iterations per epoch</source>
        <translation>Itérations par époque</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="114"/>
        <source>Optimiser steps (batches) per epoch.</source>
        <translation>Pas d’optimisation (lots) par époque.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="117"/>
        <source>Smallest downsampling factor of the training pairs.</source>
        <translation>Plus petit facteur de sous-échantillonnage des paires d’entraînement.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="120"/>
        <source>Largest downsampling factor of the training pairs; the model learns the scales in between (fractions too).</source>
        <translation>Plus grand facteur de sous-échantillonnage des paires d’entraînement ; le modèle apprend les échelles intermédiaires (fractions comprises).</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="125"/>
        <source>LR patch size (pixels)</source>
        <translation>Taille des extraits BR (pixels)</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="125"/>
        <source>Side of the low-resolution training patches, in pixels.</source>
        <translation>Côté des extraits d’entraînement basse résolution, en pixels.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="129"/>
        <source>Batch size</source>
        <translation>Taille de lot</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="129"/>
        <source>Patches per optimiser step; lower it when memory runs out.</source>
        <translation>Extraits par pas d’optimisation ; réduisez-la quand la mémoire manque.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="132"/>
        <source>Learning rate</source>
        <translation>Taux d’apprentissage</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="132"/>
        <source>Peak learning rate of the optimiser.</source>
        <translation>Taux d’apprentissage maximal de l’optimiseur.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="135"/>
        <source>Random seed</source>
        <translation>Graine aléatoire</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="135"/>
        <source>Seed of the patch sampling and of the initial weights.</source>
        <translation>Graine du tirage des extraits et des poids initiaux.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="138"/>
        <source>Time limit in minutes (0 = none)</source>
        <translation>Limite de temps en minutes (0 = aucune)</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="138"/>
        <source>Stop cleanly after this many minutes, with the checkpoints written so far; 0 = no limit.</source>
        <translation>S’arrêter proprement après ce nombre de minutes, avec les fichiers de poids déjà écrits ; 0 = sans limite.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="144"/>
        <source>Folder that receives the checkpoints (epoch-last.pth, epoch-best.pth, official layout); created when missing.</source>
        <translation>Dossier qui reçoit les fichiers de poids (epoch-last.pth, epoch-best.pth, format officiel) ; créé s’il n’existe pas.</translation>
    </message>
    <message>
        <location filename="../algorithms/train.py" line="105"/>
        <source>lmlte (implicit model, any scale), ldcsr (latent diffusion), moe (mixture-of-experts diffusion refiner) or fast (learned resampling at GDAL speed); used when training from scratch or from a checkpoint file.</source>
        <translation>lmlte (modèle implicite, toute échelle), ldcsr (diffusion latente), moe (affinage par diffusion à mélange d’experts) ou fast (rééchantillonnage appris à la vitesse de GDAL) ; utilisée pour un entraînement à partir de zéro ou d’un fichier de poids.</translation>
    </message>
</context>
<context>
    <name>UpscaleAlgorithm</name>
    <message>
        <location filename="../algorithms/upscale.py" line="54"/>
        <source>Super-resolve raster (arbitrary scale)</source>
        <translation>Super-résolution de raster (échelle arbitraire)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="78"/>
        <source>Input raster</source>
        <translation>Raster en entrée</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="84"/>
        <source>Scale factor</source>
        <translation>Facteur d’échelle</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="90"/>
        <source>Target pixel size in map units (replaces the scale)</source>
        <translation>Taille de pixel cible en unités de la carte (remplace l’échelle)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="95"/>
        <source>Bands (all when empty)</source>
        <translation>Bandes (toutes si vide)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="148"/>
        <source>Super-resolved raster</source>
        <translation>Raster super-résolu</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="78"/>
        <source>The raster to super-resolve: any layer or file GDAL can read, any band count and data type. Layers that are not files (WMS, databases, memory) are exported to a temporary GeoTIFF first.</source>
        <translation>Le raster à super-résoudre : toute couche ou tout fichier lisible par GDAL, quels que soient le nombre de bandes et le type de données. Les couches qui ne sont pas des fichiers (WMS, bases de données, mémoire) sont d’abord exportées dans un GeoTIFF temporaire.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="84"/>
        <source>Output width = round(input width × scale), and the same for the height; fractions are allowed (e.g. 2.5). The extent and CRS are kept exactly, so the pixel size is the input pixel size divided by the scale.</source>
        <translation>Largeur de sortie = arrondi(largeur d’entrée × échelle), de même pour la hauteur ; les fractions sont permises (par ex. 2,5). L’emprise et le SCR sont conservés exactement, la taille de pixel est donc celle de l’entrée divisée par l’échelle.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="90"/>
        <source>The output pixel size in the layer&apos;s map units (e.g. 0.5 for 50 cm in a metric CRS). When set, it replaces Scale factor: the scale is input pixel size / target.</source>
        <translation>La taille de pixel de sortie dans les unités de la couche (par ex. 0,5 pour 50 cm dans un SCR métrique). Si elle est donnée, elle remplace le facteur d’échelle : l’échelle vaut taille de pixel d’entrée / cible.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="95"/>
        <source>The bands to super-resolve and write, in this order; all bands when empty. From qgis_process: BANDS=1 BANDS=3.</source>
        <translation>Les bandes à super-résoudre et à écrire, dans cet ordre ; toutes si vide. Depuis qgis_process : BANDS=1 BANDS=3.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="101"/>
        <source>Random seed (diffusion models)</source>
        <translation>Graine aléatoire (modèles de diffusion)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="101"/>
        <source>Seed of the sampling noise of diffusion models (ldcsr, moe): the same seed gives the same pixels. Empty: the engine&apos;s default seed. LMLTE models ignore it.</source>
        <translation>Graine du bruit d’échantillonnage des modèles de diffusion (ldcsr, moe) : la même graine donne les mêmes pixels. Vide : la graine par défaut du moteur. Les modèles LMLTE l’ignorent.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="107"/>
        <source>Sampling steps (diffusion models; empty: model default)</source>
        <translation>Étapes d’échantillonnage (modèles de diffusion ; vide : valeur du modèle)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="107"/>
        <source>Number of denoising steps of diffusion models; empty uses the model&apos;s own default. More steps take longer. LMLTE models ignore it.</source>
        <translation>Nombre d’étapes de débruitage des modèles de diffusion ; vide utilise la valeur par défaut du modèle. Plus d’étapes prennent plus de temps. Les modèles LMLTE l’ignorent.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="126"/>
        <source>Worker processes</source>
        <translation>Processus de calcul</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="126"/>
        <source>Number of processes that super-resolve blocks of the raster in parallel on this computer, or of Ray workers when a Ray address is given. The pixels do not depend on it. 1 = a single process. The default comes from Processing options &gt; Providers &gt; ArbSR.</source>
        <translation>Nombre de processus qui super-résolvent des blocs du raster en parallèle sur cet ordinateur, ou de workers Ray quand une adresse Ray est donnée. Les pixels n’en dépendent pas. 1 = un seul processus. La valeur par défaut vient des Options de traitement &gt; Fournisseurs &gt; ArbSR.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="133"/>
        <source>Ray cluster address (empty = this computer)</source>
        <translation>Adresse du cluster Ray (vide = cet ordinateur)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="133"/>
        <source>Empty: run on this computer. &apos;local&apos;: start a private Ray cluster on this computer for this job. &apos;auto&apos;, &apos;host:port&apos; or &apos;ray://host:10001&apos;: run on that Ray cluster; its workers must reach the input and output paths (a shared file system or /vsi URLs). The default comes from Processing options &gt; Providers &gt; ArbSR.</source>
        <translation>Vide : exécution sur cet ordinateur. « local » : démarre un cluster Ray privé sur cet ordinateur pour ce traitement. « auto », « hôte:port » ou « ray://hôte:10001 » : exécution sur ce cluster Ray ; ses workers doivent atteindre les chemins d’entrée et de sortie (système de fichiers partagé ou URL /vsi). La valeur par défaut vient des Options de traitement &gt; Fournisseurs &gt; ArbSR.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="141"/>
        <source>Replace an existing output file</source>
        <translation>Remplacer un fichier de sortie existant</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="141"/>
        <source>True (the default): an existing OUTPUT file is replaced once the new one is complete, as for other Processing algorithms. False: the run fails instead of replacing a file (the ArbSR dock uses this).</source>
        <translation>Vrai (par défaut) : un fichier OUTPUT existant est remplacé une fois le nouveau terminé, comme pour les autres algorithmes de traitement. Faux : le traitement échoue au lieu de remplacer un fichier (le panneau ArbSR utilise ce mode).</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="148"/>
        <source>The GeoTIFF to write (.tif). It is written under a temporary name and renamed when complete: a failed or cancelled run leaves no file.</source>
        <translation>Le GeoTIFF à écrire (.tif). Il est écrit sous un nom temporaire puis renommé une fois terminé : un traitement en échec ou annulé ne laisse aucun fichier.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="233"/>
        <source>The engine reported success but {path} does not exist.</source>
        <translation>Le moteur a signalé un succès mais {path} n’existe pas.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="57"/>
        <source>Upscales a raster layer with a learned super-resolution model (default: the bundled LMLTE model) by any factor, fractional included.

&lt;b&gt;Scale&lt;/b&gt;: output width = round(width × scale); the extent and CRS are kept exactly, so the pixel size becomes input pixel size / scale. &lt;b&gt;Target resolution&lt;/b&gt; (map units), when set, replaces the scale and picks the factor that gives that pixel size.
&lt;b&gt;Bands&lt;/b&gt;: all bands when empty. Data type, nodata and band metadata are kept.
&lt;b&gt;Model&lt;/b&gt;: a registered model, or 'custom checkpoint file' with a .pth/.ckpt/.pt/.onnx file in Checkpoint. Diffusion models also use Seed, Steps and Detail (advanced), and can write an &lt;b&gt;Uncertainty layer&lt;/b&gt;: the per-pixel standard deviation over several samples, in the output's units.
&lt;b&gt;Device&lt;/b&gt;: auto uses CUDA when present. &lt;b&gt;Tile size&lt;/b&gt; bounds memory; the result does not depend on it. &lt;b&gt;Workers&lt;/b&gt; and &lt;b&gt;Ray address&lt;/b&gt; (advanced) spread the work over several processes or a Ray cluster; the pixels are the same.

The work runs in a separate Python process (Processing options &gt; Providers &gt; ArbSR &gt; Engine Python); Cancel stops it at once and leaves no output file. Layers that are not files (WMS, databases, memory) are exported to a temporary GeoTIFF first.</source>
        <translation>Agrandit une couche raster avec un modèle de super-résolution appris (par défaut : le modèle LMLTE fourni) par n’importe quel facteur, fractionnaire compris.

&lt;b&gt;Échelle&lt;/b&gt; : largeur de sortie = round(largeur × échelle) ; l’emprise et le SCR sont conservés exactement, la taille de pixel devient donc la taille de pixel d’entrée / échelle. La &lt;b&gt;résolution cible&lt;/b&gt; (unités de carte), si elle est donnée, remplace l’échelle et choisit le facteur qui donne cette taille de pixel.
&lt;b&gt;Bandes&lt;/b&gt; : toutes les bandes si vide. Le type de données, le nodata et les métadonnées des bandes sont conservés.
&lt;b&gt;Modèle&lt;/b&gt; : un modèle enregistré, ou « custom checkpoint file » avec un fichier .pth/.ckpt/.pt/.onnx dans Checkpoint. Les modèles de diffusion utilisent aussi la graine, les pas et le détail (avancés), et peuvent écrire une &lt;b&gt;couche d’incertitude&lt;/b&gt; : l’écart type par pixel entre plusieurs tirages, dans les unités de la sortie.
&lt;b&gt;Périphérique&lt;/b&gt; : auto utilise CUDA s’il est présent. La &lt;b&gt;taille de tuile&lt;/b&gt; borne la mémoire ; le résultat n’en dépend pas. Les &lt;b&gt;processus&lt;/b&gt; et l’&lt;b&gt;adresse Ray&lt;/b&gt; (avancés) répartissent le travail sur plusieurs processus ou un cluster Ray ; les pixels sont les mêmes.

Le travail s’exécute dans un processus Python séparé (Options de traitement &gt; Fournisseurs &gt; ArbSR &gt; Python du moteur) ; Annuler l’arrête aussitôt et ne laisse aucun fichier de sortie. Les couches qui ne sont pas des fichiers (WMS, bases de données, mémoire) sont d’abord exportées vers un GeoTIFF temporaire.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="112"/>
        <source>Detail (diffusion temperature, 0-1; empty: model default)</source>
        <translation>Détail (température de diffusion, 0-1 ; vide : valeur du modèle)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="120"/>
        <source>Samples for the uncertainty layer</source>
        <translation>Tirages pour la couche d’incertitude</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="120"/>
        <source>How many samples the uncertainty layer is computed from (at least 2). Each sample costs one more run of the model. Used only when an uncertainty layer is written.</source>
        <translation>Nombre de tirages à partir desquels la couche d’incertitude est calculée (au moins 2). Chaque tirage coûte une exécution de plus du modèle. Utilisé seulement quand une couche d’incertitude est écrite.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="152"/>
        <source>Uncertainty layer (diffusion models)</source>
        <translation>Couche d’incertitude (modèles de diffusion)</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="152"/>
        <source>Optional Float32 GeoTIFF on the output&apos;s grid: per band, the per-pixel standard deviation over the samples, in the output&apos;s data units (nodata where the output is nodata). High values mark detail the model is unsure of. Needs a diffusion model (moe, ldcsr); the output itself stays the Seed&apos;s sample.</source>
        <translation>GeoTIFF Float32 facultatif sur la grille de la sortie : par bande, l’écart type par pixel entre les tirages, dans les unités de données de la sortie (nodata là où la sortie est nodata). Les valeurs élevées signalent les détails dont le modèle est incertain. Nécessite un modèle de diffusion (moe, ldcsr) ; la sortie reste le tirage de la graine.</translation>
    </message>
    <message>
        <location filename="../algorithms/upscale.py" line="112"/>
        <source>How much fine detail the moe diffusion model draws: 0 is deterministic and closest to the truth on average (as close as the default model); higher values add finer, partly invented detail. Empty: the model card&apos;s default. Only for models with a detail control (moe).</source>
        <translation>Quantité de détails fins que dessine le modèle de diffusion moe : 0 est déterministe et le plus proche de la réalité en moyenne (aussi proche que le modèle par défaut) ; des valeurs plus élevées ajoutent des détails plus fins, en partie inventés. Vide : la valeur de la fiche du modèle. Seulement pour les modèles avec un réglage de détail (moe).</translation>
    </message>
</context>
</TS>
